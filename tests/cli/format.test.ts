import { expect, test } from "bun:test";
import { humanDuration } from "../../src/cli/format.ts";

test("humanDuration gives seconds as the two largest whole units, singular where one", () => {
  expect([2_592_000, 86_400, 5_400, 900, 61, 2, 1, 0, 93_784].map(humanDuration)).toEqual([
    "30 days",
    "1 day",
    "1 hour 30 minutes",
    "15 minutes",
    "1 minute 1 second",
    "2 seconds",
    "1 second",
    "0 seconds",
    "1 day 2 hours",
  ]);
});
