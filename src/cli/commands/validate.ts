import { Option, type Command } from 'commander';
import type { SourcedDocument } from '../../io/yaml-documents.js';
import { fieldError, renderFieldError, type FieldError } from '../../vocabulary/field-errors.js';
import { CHECKED_KINDS, checkFor, validateAdmission } from '../../validate-admission.js';
import { admitPod, carriesInjection, parsePod } from '../../injector/index.js';
import { podSlotOf } from '../../injector/workloads.js';
import type { Profile } from '../../profile.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../settings.js';
import { groupOf, MeshStore } from '../../state/store.js';
import type { KubeObject } from '../../state/types.js';
import type { AdmissionInput, GroupVersionKind } from '../../vocabulary/admission.js';
import { UserError } from '../errors.js';
import { profileFrom } from '../global-options.js';
import { oneEditAway } from '../near-miss.js';
import { readInputs, unknownMetadataFields } from '../read-inputs.js';
import { addSettingsOptions, settingsFrom, type SettingsOptionValues } from '../settings-options.js';
import { DEV_CA_PATH, XDS_CA_ENV, XDS_CA_FLAG, readCaFile } from '../xds-ca.js';
import { existsSync } from 'node:fs';

interface ValidateOptions extends SettingsOptionValues {
  filename: string[];
  xdsCa?: string;
  state?: string;
  output: 'text' | 'json';
  namespace: string;
}

/** One document's result, also the `-o json` record. */
export interface DocumentResult {
  source: string;
  /** 1-based document number within the source. */
  document: number;
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** `valid`, `invalid` (field errors), `denied` (a policy denial) or `skipped` (no rules for the kind). */
  result: 'valid' | 'invalid' | 'denied' | 'skipped';
  errors: FieldError[];
  denied?: string;
  warnings: string[];
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  const validate = program
    .command('validate')
    .summary("check Egress, HTTPRouteGroup, MeshConfig and pod files offline with the webhook's rules")
    .description(
      [
        "Checks Kubernetes objects offline with the validating webhook's rules, for CI.",
        'Egress (policy.openservicemesh.io and policy.flomesh.io), HTTPRouteGroup and MeshConfig objects are validated ' +
          'as the webhook validates a CREATE; other kinds are skipped. HTTPRouteGroups, UpstreamTrafficSettings, ' +
          'Namespaces and the MeshConfig found in the inputs or in --state count as existing, and Egress policies in the ' +
          'inputs are checked against each other (and against those in --state) for server-first port conflicts, ' +
          'whatever their order.',
        "Strict, as kubectl's field validation: an unknown metadata field is an error, and so is a kind or API group one " +
          'edit away from one meshgate validates (Egres, policy.openservicemesh.oi), with the name meant.',
        'Pods, and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs and ' +
          'CronJobs, go the way a Pod CREATE goes through the API server in an enrolled namespace (Namespaces from --state or the ' +
          'inputs): the injector, then the pod guard on the injected pod (bypass guard, sidecar integrity, opt-out), under the same ' +
          `settings flags as \`meshgate serve\`. A pod that already carries meshgate's sidecar is compared with what meshgate renders, ` +
          `with meshgate's CA from ${XDS_CA_FLAG} (else ${DEV_CA_PATH} when present).`,
        'Exit status: 0 all valid (warnings go to stderr), 1 something is invalid, 2 usage error or unreadable input.',
      ].join('\n\n'),
    )
    .option('-f, --filename <FILE|DIR|->', 'file, directory (recursive, *.yaml|*.yml|*.json) or - for stdin; repeatable', collect, [])
    .option('--state <DIR>', 'cluster state: YAML of Namespaces, MeshConfig, HTTPRouteGroups, Egresses, ...')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-n, --namespace <ns>', 'namespace of objects that name none (as kubectl apply)', 'default')
    .addOption(new Option(`${XDS_CA_FLAG} <FILE>`, `meshgate's CA certificate (PEM): compares pods that already carry the sidecar (default: ${DEV_CA_PATH} if present)`).env(XDS_CA_ENV))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  meshgate validate -f examples/policies/osm/\n' +
        '  meshgate validate -f egress.yaml --state examples/state\n' +
        '  kubectl get egress -A -o yaml | meshgate validate -f - -o json\n' +
        '  meshgate validate -f deploy.yaml --state examples/state --pod-opt-out deny\n',
    );
  addSettingsOptions(validate);
  validate.action(async (opts: ValidateOptions, cmd: Command) => {
    if (opts.filename.length === 0) throw new UserError('validate: give at least one input with -f FILE|DIR|-');
    const profile = profileFrom(cmd);
    const inputs = await readInputs(opts.filename);
    const stateDocs = opts.state ? await readInputs([opts.state]).catch(namingFlag('--state')) : [];
    const base = settingsFrom(opts);
    const caNeeded = inputs.some((d) => {
      const pod = parsePod(podSlotOf(d.value)?.pod);
      return pod !== undefined && carriesInjection(pod, profile);
    });
    const settings = caNeeded ? { ...base, xds: { ...base.xds, caPem: validateXdsCa(opts.xdsCa) } } : base;
    const results = validateDocuments(profile, inputs, stateDocs, opts.namespace, settings);
    if (results.length === 0) throw new UserError(`validate: no Kubernetes objects found in ${opts.filename.join(', ')}`);
    // Decided before printing, so a reader that stops early (`| head -1`) does not change it.
    if (results.some((r) => r.result === 'invalid' || r.result === 'denied')) process.exitCode = 1;
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    else printText(results);
  });
}

/**
 * The CA in the bootstraps meshgate renders, for comparing a pod that already carries a sidecar:
 * `--xds-ca`, else the development CA when present. Pods without one need none (the injector's
 * own rendering is what the guard compares them with).
 */
function validateXdsCa(flagValue: string | undefined): string {
  if (flagValue) return readCaFile(flagValue, XDS_CA_FLAG);
  if (existsSync(DEV_CA_PATH)) return readCaFile(DEV_CA_PATH, `${XDS_CA_FLAG} (default)`);
  throw new UserError(
    `validate: an input pod already carries meshgate's sidecar, whose bootstrap holds meshgate's CA: pass ${XDS_CA_FLAG} FILE (${XDS_CA_ENV}) to compare it with what meshgate renders`,
  );
}

/**
 * Validates every input document against the state plus the other inputs. All inputs go into the
 * store first, so the result does not depend on their order; an Egress never conflicts with its
 * own identity (group/namespace/name), so each is checked against all the others.
 */
export function validateDocuments(
  profile: Profile,
  inputs: readonly SourcedDocument[],
  stateDocs: readonly SourcedDocument[],
  defaultNamespace: string,
  settings: MeshgateSettings = DEFAULT_SETTINGS,
): DocumentResult[] {
  const store = new MeshStore(profile);
  for (const d of stateDocs) {
    const obj = asObject(d);
    if (obj) store.upsert(obj);
  }
  const objects = inputs.map((d) => {
    const obj = asObject(d);
    if (!obj) throw new UserError(`${d.source}: document ${d.index + 1} is not a Kubernetes object (a mapping with apiVersion and kind)`, 2);
    return withNamespace(obj, defaultNamespace);
  });
  for (const obj of objects) store.upsert(obj);

  return objects.map((obj, i) => {
    const doc = inputs[i]!;
    const gvk = gvkOf(obj);
    const namespace = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? obj.metadata?.generateName ?? '';
    const base = {
      source: doc.source,
      document: doc.index + 1,
      apiVersion: typeof obj.apiVersion === 'string' ? obj.apiVersion : '',
      kind: typeof obj.kind === 'string' ? obj.kind : '',
      namespace,
      name,
    };
    const missing: FieldError[] = [];
    if (!base.apiVersion) missing.push({ type: 'FieldValueRequired', field: 'apiVersion', message: 'Required value' });
    if (!base.kind) missing.push({ type: 'FieldValueRequired', field: 'kind', message: 'Required value' });
    // Strict, as kubectl's field validation: a misspelt metadata field is not dropped in silence.
    const metadataErrors = unknownMetadataFields(obj);
    if (missing.length > 0) return { ...base, result: 'invalid', errors: [...missing, ...metadataErrors], warnings: [] };
    const slotOf = podSlotOf(obj);
    const slot = slotOf && parsePod(slotOf.pod) ? slotOf : undefined;
    if (!slot && !checkFor(gvk)) {
      const errors = [...misspeltKind(gvk, base.apiVersion), ...metadataErrors];
      return { ...base, result: errors.length > 0 ? 'invalid' : 'skipped', errors, warnings: [] };
    }

    const input: AdmissionInput = {
      uid: `validate-${i}`,
      kind: gvk,
      operation: 'CREATE',
      namespace,
      name: obj.metadata?.name ?? '',
      object: obj,
      oldObject: undefined,
      dryRun: true,
    };
    // A Pod or a workload's pod template: the Pod CREATE it becomes, as the API server admits it.
    const outcome = slot
      ? admitPod({ ...input, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: namespace || defaultNamespace, object: slot.pod as KubeObject }, store, settings)
      : validateAdmission(input, store, settings);
    const errors = [...metadataErrors, ...outcome.errors];
    const result: DocumentResult['result'] = errors.length > 0 ? 'invalid' : outcome.forbidden ? 'denied' : 'valid';
    return {
      ...base,
      result,
      errors,
      ...(outcome.forbidden ? { denied: outcome.forbidden } : {}),
      warnings: outcome.warnings,
    };
  });
}

const CHECKED_KIND_NAMES = [...new Set(CHECKED_KINDS.map((k) => k.kind))];

/**
 * A kind or API group one edit away from one meshgate checks (`Egres`, `policy.openservicemesh.oi`)
 * is a typo, not another API: an error with the name meant, where it used to be skipped and pass.
 * Both must be close (as written, or one edit away), so `Egress` of another API group and kinds far
 * from meshgate's (ConfigMap, Service) are still skipped.
 */
function misspeltKind(gvk: GroupVersionKind, apiVersion: string): FieldError[] {
  const kind = CHECKED_KIND_NAMES.includes(gvk.kind) ? gvk.kind : oneEditAway(gvk.kind, CHECKED_KIND_NAMES);
  if (kind === undefined) return [];
  const groups = CHECKED_KINDS.filter((k) => k.kind === kind).map((k) => k.group);
  // The core group is empty: every one-letter group would be "one edit" from it.
  const group = groups.includes(gvk.group) ? gvk.group : gvk.group === '' ? undefined : oneEditAway(gvk.group, groups.filter((g) => g !== ''));
  if (group === undefined) return [];
  const errors: FieldError[] = [];
  if (group !== gvk.group) {
    const meant = `${group}/${gvk.version}`;
    errors.push(fieldError.invalid('apiVersion', apiVersion, `meshgate knows no API group "${gvk.group}" for kind ${kind}; did you mean "${meant}"?`));
  }
  if (kind !== gvk.kind) {
    errors.push(fieldError.invalid('kind', gvk.kind, `meshgate validates no kind "${gvk.kind}" in ${group || 'the core group'}; did you mean "${kind}"?`));
  }
  return errors;
}

/** Prefixes a usage error with the flag whose input it is (`--state: DIR: no such file or directory`). */
function namingFlag(flag: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof UserError) throw new UserError(`${flag}: ${err.message}`, err.exitCode);
    throw err;
  };
}

function asObject(d: SourcedDocument): KubeObject | undefined {
  return d.value !== null && typeof d.value === 'object' && !Array.isArray(d.value) ? (d.value as KubeObject) : undefined;
}

const CLUSTER_SCOPED = new Set(['Namespace']);

/** Fills metadata.namespace of namespaced objects that name none, as kubectl apply would. */
function withNamespace(obj: KubeObject, namespace: string): KubeObject {
  if (CLUSTER_SCOPED.has(String(obj.kind)) || typeof obj.metadata?.namespace === 'string') return obj;
  const meta = obj.metadata && typeof obj.metadata === 'object' ? obj.metadata : {};
  return { ...obj, metadata: { ...meta, namespace } };
}

function gvkOf(obj: KubeObject): GroupVersionKind {
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const slash = apiVersion.indexOf('/');
  return { group: groupOf(apiVersion), version: slash < 0 ? apiVersion : apiVersion.slice(slash + 1), kind: String(obj.kind ?? '') };
}

/** `egress.policy.openservicemesh.io/httpbin-80`, as kubectl names an object. */
function resourceName(r: DocumentResult): string {
  const group = groupOf(r.apiVersion);
  const kind = (r.kind || 'object').toLowerCase();
  return `${group ? `${kind}.${group}` : kind}/${r.name || '<unnamed>'}`;
}

function printText(results: readonly DocumentResult[]): void {
  const printed = new Set<string>();
  for (const r of results) {
    for (const w of r.warnings) {
      // The same warning for many documents (e.g. "namespace not in the mesh") is said once.
      if (printed.has(w)) continue;
      printed.add(w);
      process.stderr.write(`Warning: ${w}\n`);
    }
    const where = `${resourceName(r)} (${r.source}#${r.document})`;
    switch (r.result) {
      case 'valid':
        process.stdout.write(`${where}: valid\n`);
        break;
      case 'skipped':
        process.stdout.write(`${where}: skipped (meshgate has no rules for ${r.kind || 'this kind'} in ${r.apiVersion})\n`);
        break;
      case 'denied':
        process.stdout.write(`${where}: denied: ${r.denied}\n`);
        break;
      case 'invalid':
        process.stdout.write(`${where}: invalid\nThe ${r.kind || 'object'} "${r.name}" is invalid:\n`);
        for (const e of r.errors) process.stdout.write(`* ${renderFieldError(e)}\n`);
        break;
    }
  }
}
