/**
 * PGlite finds its WASM, data bundle and extensions next to its own module,
 * which does not exist inside a compiled binary; importing them as files
 * makes Bun embed them, and PGlite.create() accepts them as options.
 */
import initdbWasm from "@electric-sql/pglite/initdb.wasm" with { type: "file" };
import pgliteData from "@electric-sql/pglite/pglite.data" with { type: "file" };
import pgliteWasm from "@electric-sql/pglite/pglite.wasm" with { type: "file" };
// Not in the package's exports map, hence the path.
import pgTrgm from "../../../node_modules/@electric-sql/pglite/dist/pg_trgm.tar.gz" with { type: "file" };

export const PGLITE_ASSETS = { pgliteWasm, initdbWasm, pgliteData, pgTrgm } as const;
