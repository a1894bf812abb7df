import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { DirStateSource } from '../../cluster/state-dir.js';
import { guardOutcome, guardPod } from '../../injector/bypass-guard.js';
import { decideInjection } from '../../injector/decision.js';
import { carriesInjection } from '../../injector/sidecar-integrity.js';
import { injectPod } from '../../injector/inject-pod.js';
import { parsePod, type Pod } from '../../injector/pod.js';
import { uninject } from '../../injector/uninject.js';
import { podSlotOf, type PodSlot } from '../../injector/workloads.js';
import { InputError, type SourcedDocument } from '../../io/yaml-documents.js';
import type { Profile } from '../../profile.js';
import type { MeshgateSettings } from '../../settings.js';
import type { MeshState } from '../../state/mesh-state.js';
import { MeshStore } from '../../state/store.js';
import { UserError } from '../errors.js';
import { profileFrom } from '../global-options.js';
import { renderFieldError } from '../../vocabulary/field-errors.js';
import { readInputs, unknownMetadataFields } from '../read-inputs.js';
import { addSettingsOptions, settingsFrom, type SettingsOptionValues } from '../settings-options.js';
import { DEV_CA_PATH, XDS_CA_ENV, XDS_CA_FLAG, offlineXdsCa } from '../xds-ca.js';

interface InjectOptions extends SettingsOptionValues {
  filename: string[];
  state?: string;
  namespace?: string;
  xdsCa?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const KINDS = 'Pods and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs';

export function register(program: Command): void {
  const inject = program
    .command('inject')
    .summary('add the egress proxy sidecar to Pods and workload templates in YAML (like istioctl kube-inject)')
    .description(
      `Injects the mesh's init container and Envoy sidecar into ${KINDS}, with the same code as\n` +
        'the mutating webhook, and prints the result as YAML for `kubectl apply -f -`. Other documents are\n' +
        'printed unchanged.\n\n' +
        'Offline injection does not look at namespace enrollment: every pod is injected unless it opts out\n' +
        'with the sidecar-injection annotation (disabled|no|false), uses hostNetwork, or is already\n' +
        'injected. The MeshConfig (images, resources, log level, egress, exclusion lists) comes from --state;\n' +
        'without it, the defaults apply (egress closed).\n\n' +
        "The webhook's pod guard applies to the result, as if the namespace were enrolled: --bypass-guard\n" +
        'deny|warn|off for app containers that could step around the proxy and for pods that already carry\n' +
        "a sidecar that is not exactly meshgate's, --pod-opt-out allow|warn|deny for pods that opt out.\n\n" +
        "The sidecar gets its egress config from meshgate over ADS and verifies the server with meshgate's\n" +
        `CA: ${XDS_CA_FLAG} FILE, else ${DEV_CA_PATH} (what \`meshgate serve --dev\` creates) when present.\n\n` +
        'Exit status: 0 done (notes and warnings on stderr), 1 a pod was refused (bad annotation, pod guard),\n' +
        '2 usage error or unreadable input.',
    )
    .option('-f, --filename <FILE|DIR|->', 'file, directory or - for stdin; repeatable', collect, [])
    .option('--state <DIR>', 'cluster state: YAML with the MeshConfig (and Namespaces, ...)')
    .option('-n, --namespace <ns>', 'namespace of objects that name none (default: "default")')
    .addOption(new Option(`${XDS_CA_FLAG} <FILE>`, `meshgate's CA certificate (PEM), which the sidecar trusts for the xDS connection (default: ${DEV_CA_PATH} if present)`).env(XDS_CA_ENV))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        "  kubectl get secret -n osm-system meshgate-webhook-tls -o jsonpath='{.data.ca\\.crt}' | base64 -d > ca.crt\n" +
        '  meshgate inject -f curl.yaml --xds-ca ca.crt | kubectl apply -n curl -f -\n' +
        '  kubectl get deploy curl -n curl -o yaml | meshgate inject -f - --state examples/state --xds-ca ca.crt\n',
    );
  addSettingsOptions(inject);
  inject.action(async (opts: InjectOptions, cmd: Command) => {
    if (opts.filename.length === 0) throw new UserError('inject: give the input with -f FILE|DIR|-');
    const profile = profileFrom(cmd);
    const base = settingsFrom(opts);
    // The CA is looked for only once a pod is to be injected: documents that need none pass without it.
    let settings: MeshgateSettings | undefined;
    const settingsForPods = () => (settings ??= { ...base, xds: { ...base.xds, caPem: offlineXdsCa(opts.xdsCa) } });
    const state = await loadState(profile, opts.state);
    const docs = await readInputs(opts.filename);
    process.stdout.write(render(transform(docs, (slot, pod) => injectOne(slot, pod, state, base, settingsForPods, opts.namespace))));
  });

  program
    .command('uninject')
    .summary('remove what meshgate injected from Pods and workload templates in YAML')
    .description(
      `Removes exactly what the meshgate.io/status annotation lists (containers, init containers,\n` +
        `volumes) and the annotation from ${KINDS}, and prints the result as YAML. Objects that were not\n` +
        'injected are printed unchanged.\n\n' +
        'Exit status: 0 done, 1 a status annotation is malformed, 2 usage error or unreadable input.',
    )
    .option('-f, --filename <FILE|DIR|->', 'file, directory or - for stdin; repeatable', collect, [])
    .addHelpText('after', '\nExample:\n  kubectl get deploy curl -n curl -o yaml | meshgate uninject -f - | kubectl apply -f -\n')
    .action(async (opts: { filename: string[] }) => {
      if (opts.filename.length === 0) throw new UserError('uninject: give the input with -f FILE|DIR|-');
      const docs = await readInputs(opts.filename);
      process.stdout.write(render(transform(docs, uninjectOne)));
    });
}

type Step = { pod: unknown; note?: string; warnings?: string[] } | { error: string };

function injectOne(slot: PodSlot, pod: Pod, state: MeshState, base: MeshgateSettings, settings: () => MeshgateSettings, nsFlag?: string): Step {
  const namespace = slot.namespace ?? nsFlag ?? 'default';
  const { profile } = state;
  const namespaceInfo = state.namespace(namespace);
  const decision = decideInjection({ profile, pod, namespace, namespaceInfo, offline: true });
  if (decision.kind === 'deny') return { error: decision.message };
  let out: Pod = pod;
  const warnings: string[] = [];
  if (decision.kind === 'inject') {
    const result = injectPod(pod, { profile, meshConfig: state.meshConfig(), settings: settings(), namespace, templateOf: slot.kind });
    if (result.kind === 'deny') return { error: result.message };
    out = result.pod;
    warnings.push(...result.warnings);
  }
  // The webhook's pod guard on the result, as if the namespace were enrolled. Rendering (and so
  // the CA) is needed only for a pod that gets or already carries a sidecar.
  const guardSettings = decision.kind === 'inject' || carriesInjection(pod, profile) ? settings() : base;
  const found = guardPod(out, { profile, meshConfig: state.meshConfig(), settings: guardSettings, namespace, namespaceInfo, offline: true });
  // hostNetwork is said by the note; the guard's notes would repeat it.
  const verdict = guardOutcome({ ...found, notes: [] }, guardSettings, namespace);
  if (verdict.forbidden) return { error: verdict.forbidden };
  warnings.push(...verdict.warnings);
  if (decision.kind === 'skip') return { pod: slot.pod, note: `not injected: ${decision.reason}`, warnings };
  return { pod: out, warnings };
}

function uninjectOne(slot: PodSlot, pod: Pod): Step {
  const r = uninject(pod);
  if (r.kind === 'error') return { error: r.message };
  if (r.kind === 'not-injected') return { pod: slot.pod, note: 'not injected by meshgate; left unchanged' };
  return { pod: r.pod };
}

/** Applies `step` to the pod of every document that holds one; errors are reported all at once. */
function transform(
  docs: SourcedDocument[],
  step: (slot: PodSlot, pod: Pod) => Step,
): unknown[] {
  const out: unknown[] = [];
  const errors: string[] = [];
  // Notes and warnings are said only when the run succeeds: a failed run's stderr is its errors.
  const notes: string[] = [];
  for (const d of docs) {
    // Strict, as kubectl's field validation: `namespac: curl` would otherwise inject for "default".
    const unknownFields = unknownMetadataFields(d.value);
    if (unknownFields.length > 0) {
      errors.push(`${d.source}: document ${d.index + 1}${describeDocument(d.value)}: ${unknownFields.map(renderFieldError).join('; ')}`);
      continue;
    }
    const slot = podSlotOf(d.value);
    if (!slot) {
      out.push(d.value);
      continue;
    }
    const where = `${d.source}: document ${d.index + 1} (${slot.kind} ${slot.name})`;
    const pod = parsePod(slot.pod);
    if (!pod) {
      errors.push(`${where}: no pod spec with containers to inject into`);
      continue;
    }
    const r = step(slot, pod);
    if ('error' in r) {
      errors.push(`${where}: ${r.error}`);
      continue;
    }
    if (r.note) notes.push(`${where}: ${r.note}\n`);
    for (const w of r.warnings ?? []) notes.push(`Warning: ${where}: ${w}\n`);
    out.push(r.pod === slot.pod ? d.value : slot.replace(r.pod));
  }
  if (errors.length > 0) {
    for (const e of errors.slice(0, -1)) process.stderr.write(`meshgate: ${e}\n`);
    throw new UserError(errors[errors.length - 1]!, 1);
  }
  for (const n of notes) process.stderr.write(n);
  return out;
}

/** ` (Deployment curl)`, or nothing for a document without a kind. */
function describeDocument(value: unknown): string {
  const o = value !== null && typeof value === 'object' ? (value as { kind?: unknown; metadata?: { name?: unknown } }) : {};
  if (typeof o.kind !== 'string') return '';
  return ` (${o.kind}${typeof o.metadata?.name === 'string' ? ` ${o.metadata.name}` : ''})`;
}

function render(docs: unknown[]): string {
  // lineWidth 0: no folding, so the inline bootstrap and the script stay readable and byte-exact.
  // YAML 1.1 quoting: kubectl reads YAML 1.1, where a plain `on`, `yes` or `y` is a boolean, so a
  // string such as an env value "on" must stay quoted.
  return docs.map((d) => stringify(d, { lineWidth: 0, version: '1.1' })).join('---\n');
}

async function loadState(profile: Profile, dir: string | undefined): Promise<MeshState> {
  if (!dir) return new MeshStore(profile);
  const source = new DirStateSource(profile, dir);
  try {
    await source.start();
  } catch (err) {
    if (err instanceof InputError) throw new UserError(`--state: ${err.message}`, 2);
    throw err;
  }
  return source.state;
}
