// Mocha configuration. In CI a skipped (pending) test fails the run: every suite must really run.
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['test/**/*.test.ts'],
  timeout: 30000,
  'forbid-only': !!process.env.CI,
  'forbid-pending': !!process.env.CI,
};
