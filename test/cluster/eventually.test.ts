import { expect } from 'chai';
import { eventually } from '../support/fake-apiserver/wait.js';

/** The polling helper the cluster suites wait with: it retries "not yet", never a broken contract. */
describe('eventually (test/support/fake-apiserver/wait.ts)', () => {
  it('retries while the condition does not hold yet, and returns the first truthy answer', async () => {
    let polls = 0;
    const v = await eventually('the third poll', () => (++polls >= 3 ? { polls } : undefined));
    expect(v).to.deep.equal({ polls: 3 });
  });

  it('surfaces an exception from the check on the poll that threw, without retrying', async () => {
    let polls = 0;
    const err = await eventually('a property of undefined', () => {
      polls++;
      return (undefined as unknown as { ready: () => boolean }).ready();
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(TypeError);
    expect((err as Error).message).to.match(/^while waiting for a property of undefined: Cannot read properties of undefined \(reading 'ready'\)$/);
    expect(polls, 'polls').to.equal(1);
  });

  it('surfaces a rejected check (an unexpected HTTP status) at once, not as a timeout', async () => {
    let polls = 0;
    const err = await eventually(
      '/readyz 200',
      async () => {
        polls++;
        if (polls === 2) throw new Error('/readyz answered 500, not 200 or 503');
        return false;
      },
      5_000,
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('while waiting for /readyz 200: /readyz answered 500, not 200 or 503');
    expect(polls, 'polls').to.equal(2);
  });

  it('times out naming what it waited for and the last answer', async () => {
    const err = await eventually('never', () => 0, 50).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('timed out waiting for never; last: 0');
  });
});
