/**
 * The init container's command as a real injection produces it: the seeds' curl pod goes through
 * mutatePod (the webhook's entry point) against the given cluster state, the JSON Patch travels in
 * the wire format kube-apiserver sees and is applied, and the injected `<prefix>-init` container's
 * command is returned, to be run verbatim with NetnsRig.runCommand.
 */
import jsonpatch from 'fast-json-patch';
import { mutatePod } from '../../../src/injector/index.js';
import type { KubeObject } from '../../../src/manifests/types.js';
import { resolveProfile, type ProfileName } from '../../../src/profile.js';
import type { MeshgateSettings } from '../../../src/settings.js';
import { MeshStore } from '../../../src/state/store.js';
import type { AdmissionInput, JsonPatchOperation } from '../../../src/vocabulary/admission.js';

interface Container {
  name: string;
  command?: string[];
}

/** The pod of the OSM curl sample Deployment (docs/example/manifests/samples/curl/curl.yaml), as CREATE sends it. */
export function curlPod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'curl-54ccc6954c-', labels: { app: 'curl', 'pod-template-hash': '54ccc6954c' } },
    spec: {
      serviceAccountName: 'curl',
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      containers: [{ name: 'curl', image: 'curlimages/curl', imagePullPolicy: 'IfNotPresent', command: ['/bin/sleep', 'infinity'] }],
    },
  };
}

/**
 * Injects the curl pod in namespace `curl` with the profile's rules against `state` (Namespaces,
 * MeshConfig, ...): the pod as kube-apiserver stores it after applying the patch from the wire.
 */
export function injectCurlPod<Pod = { spec: { containers: Container[]; initContainers?: Container[] } }>(
  profileName: ProfileName,
  state: KubeObject[],
  settings: MeshgateSettings,
): Pod {
  const store = new MeshStore(resolveProfile(profileName));
  for (const o of state) store.upsert(o);
  const pod = curlPod();
  const input: AdmissionInput = {
    uid: 'b7c1f2a0-0000-4000-8000-000000000002',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    operation: 'CREATE',
    namespace: 'curl',
    name: '',
    object: pod,
    oldObject: undefined,
    dryRun: false,
  };
  const outcome = mutatePod(input, store, settings);
  if (outcome.action !== 'patch') throw new Error(`expected the curl pod to be injected, got ${JSON.stringify(outcome)}`);
  // Through the wire format kube-apiserver sees: base64 of the JSON Patch.
  const wire = Buffer.from(JSON.stringify(outcome.patch)).toString('base64');
  const patch = JSON.parse(Buffer.from(wire, 'base64').toString('utf8')) as JsonPatchOperation[];
  return jsonpatch.applyPatch(structuredClone(pod), patch as jsonpatch.Operation[], true, false).newDocument as unknown as Pod;
}

/** The injected init container's command (`/bin/sh -c SCRIPT`). */
export function injectedInitCommand(profileName: ProfileName, state: KubeObject[], settings: MeshgateSettings): string[] {
  const profile = resolveProfile(profileName);
  const injected = injectCurlPod(profileName, state, settings);
  const init = injected.spec.initContainers?.find((c) => c.name === profile.initContainerName);
  if (!init?.command) throw new Error(`no ${profile.initContainerName} init container with a command in the injected pod`);
  return init.command;
}
