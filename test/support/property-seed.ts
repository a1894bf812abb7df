/**
 * The fixed fast-check seed of the property tests outside test/fuzz/ (the fuzz suites use FUZZ_SEED).
 * fc.assert prints the seed and the path of a failing case, so a failure replays as it happened.
 */
export const PROPERTY_SEED = 20261203;
