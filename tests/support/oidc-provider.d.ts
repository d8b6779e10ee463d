// oidc-provider ships no types (its DefinitelyTyped package is not installed): the tests use it untyped.
declare module "oidc-provider";
