/**
 * The corpus of lying bundles, one generator per class: lies in every field
 * of lading.json, index.json disagreeing with it, hostile mirrors, escape
 * sequences, deep and huge JSON. Each case says what lading must answer:
 * the exit code and a pattern naming the culprit. Structural lies are refused
 * when the bundle is opened (7, every command); lies that only the blobs can
 * expose are found by verify (6).
 */
import { goodBundle, putBlob, type BundleParts, type Json } from './hostile-bundle.js';

export interface HostileCase {
  class: string;
  name: string;
  make: () => BundleParts;
  /** 7: refused when read (inspect, verify, install, check); 6: only verify (and install, which verifies) can tell. */
  code: 6 | 7;
  culprit: RegExp;
}

const ESC = '\u001b';
type CaseOf = Omit<HostileCase, 'class'>;

function edit(change: (p: BundleParts, m: Json, i: Json) => void): () => BundleParts {
  return () => {
    const parts = goodBundle();
    change(parts, parts.metadata, parts.index);
    return parts;
  };
}

const web = (m: Json) => m.images[0];
const amd = (m: Json) => m.images[0].platforms[0];

const metadataLies: CaseOf[] = [
  { name: 'schema of another tool', make: edit((_, m) => (m.schema = 'evil/v9')), code: 7, culprit: /schema/ },
  { name: 'name that walks out of the directory', make: edit((_, m) => (m.name = '../../etc/cron.d/x')), code: 7, culprit: /name: "\.\.\/\.\.\/etc/ },
  { name: 'version with an escape sequence', make: edit((_, m) => (m.version = `1.0${ESC}[2J`)), code: 7, culprit: /version: "1\.0\\e\[2J"/ },
  { name: 'createdAt that is not a date', make: edit((_, m) => (m.createdAt = 'yesterday')), code: 7, culprit: /createdAt/ },
  { name: 'tool that is not lading', make: edit((_, m) => (m.tool = { name: 'evil', version: '1' })), code: 7, culprit: /tool/ },
  { name: 'top-level platforms that the images do not have', make: edit((_, m) => (m.platforms = ['linux/amd64'])), code: 7, culprit: /platforms: says/ },
  { name: 'an image named as the sandbox image it was not pulled as', make: edit((_, m) => (web(m).name = 'registry.k8s.io/pause:3.10')), code: 7, culprit: /images\[0\]\.name: "registry\.k8s\.io\/pause:3\.10" is not the normalised form/ },
  { name: 'a source that is not a reference', make: edit((_, m) => (web(m).source = 'UPPER/Case')), code: 7, culprit: /images\[0\]\.source/ },
  { name: 'a root digest that walks out of blobs/', make: edit((_, m) => (web(m).root.digest = 'sha256:../../../../etc/passwd')), code: 7, culprit: /images\[0\]\.root\.digest/ },
  { name: 'a root digest in uppercase hex', make: edit((_, m) => (web(m).root.digest = web(m).root.digest.toUpperCase().replace('SHA256', 'sha256'))), code: 7, culprit: /images\[0\]\.root\.digest/ },
  { name: 'a negative size', make: edit((_, m) => (amd(m).layers[0].size = -1)), code: 7, culprit: /images\[0\]\.platforms\[0\]\.layers\[0\]\.size/ },
  { name: 'a size that is a string', make: edit((_, m) => (amd(m).config.size = '100')), code: 7, culprit: /config\.size/ },
  { name: 'a missing size', make: edit((_, m) => delete amd(m).manifest.size), code: 7, culprit: /manifest\.size/ },
  { name: 'a root media type that is not an image', make: edit((_, m) => (web(m).root.mediaType = 'text/html')), code: 7, culprit: /root\.mediaType/ },
  { name: 'a platform with a newline', make: edit((_, m) => (amd(m).platform = 'linux/amd64\n')), code: 7, culprit: /platforms\[0\]\.platform/ },
  { name: 'the same image twice', make: edit((_, m) => m.images.push(m.images[1])), code: 7, culprit: /listed twice/ },
  { name: 'a pinned digest that is not the root', make: edit((_, m) => { const d = m.images[1].root.digest.replace(/.$/, (c: string) => (c === '0' ? '1' : '0')); m.images[1].source = m.images[1].name = `example.com/app/tool@${d}`; }), code: 7, culprit: /pins sha256/ },
  { name: 'a delta that leaves out a blob no image uses', make: edit((_, m) => Object.assign(m, { base: { name: 'old', version: '1', metadataDigest: `sha256:${'b'.repeat(64)}` }, omitted: [{ digest: `sha256:${'a'.repeat(64)}`, size: 1 }] })), code: 7, culprit: /omitted\[0\]: "sha256:a+" is not a layer of this bundle's images/ },
  { name: 'layers left out with no base named', make: edit((_, m) => (m.omitted = [amd(m).layers[0]])), code: 7, culprit: /base: expected \{name, version, metadataDigest\}/ },
  { name: 'images that are not a list', make: edit((_, m) => (m.images = { length: 1 })), code: 7, culprit: /images: expected 1 to/ },
];

const claimLies: CaseOf[] = [
  { name: 'a layer list that is not the manifest', make: edit((p, m) => (amd(m).layers = [m.images[1].platforms[0].layers[0]])), code: 6, culprit: /layer list differs/ },
  { name: 'a layer size that is not the manifest', make: edit((_, m) => (amd(m).layers[0].size += 1)), code: 6, culprit: /layer list differs|bytes, expected/ },
  { name: 'a config that is another image', make: edit((_, m) => (amd(m).config = { ...m.images[1].platforms[0].config })), code: 6, culprit: /the manifest's config is/ },
  { name: 'arm64 claimed for the amd64 manifest', make: edit((_, m) => { web(m).platforms[1].manifest = { ...amd(m).manifest }; web(m).platforms[1].config = { ...amd(m).config }; web(m).platforms[1].layers = amd(m).layers; }), code: 6, culprit: /linux\/arm64\/v8: the index lists|index says this manifest is for linux\/amd64/ },
  { name: 'a manifest root claimed to be an index', make: edit((_, m, i) => { m.images[1].root.mediaType = i.manifests[1].mediaType = 'application/vnd.oci.image.index.v1+json'; }), code: 6, culprit: /root index/ },
  { name: 'a platform the config contradicts', make: edit((p, m, i) => {
      // A single-manifest image whose config says arm64, claimed as amd64: only the config tells.
      const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
      const configRef = { mediaType: 'application/vnd.oci.image.config.v1+json', ...putBlob(p, config) };
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configRef, layers: m.images[1].platforms[0].layers }));
      const manifestRef = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...putBlob(p, manifest) };
      Object.assign(m.images[1], { root: manifestRef });
      Object.assign(m.images[1].platforms[0], { manifest: manifestRef, config: configRef });
      Object.assign(i.manifests[1], { digest: manifestRef.digest, size: manifestRef.size });
    }), code: 6, culprit: /config describes linux\/arm64/ },
  { name: 'a manifest blob nested 100,000 levels deep', make: edit((p, m) => {
      const deep = Buffer.from('['.repeat(100_000) + ']'.repeat(100_000));
      amd(m).manifest = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...putBlob(p, deep) };
    }), code: 6, culprit: /too large to read \(nested deeper/ },
];

const indexLies: CaseOf[] = [
  { name: 'an index.json entry lading.json does not describe (a sandbox image)', make: edit((_, _m, i) => i.manifests.push({ ...i.manifests[1], annotations: { 'org.opencontainers.image.ref.name': 'registry.k8s.io/pause:3.10', 'io.containerd.image.name': 'registry.k8s.io/pause:3.10' } })), code: 7, culprit: /"registry\.k8s\.io\/pause:3\.10" is not an image lading\.json describes/ },
  { name: 'a ref.name that differs from the containerd name', make: edit((_, _m, i) => (i.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'docker.io/library/nginx:latest')), code: 7, culprit: /ref\.name "docker\.io\/library\/nginx:latest" differs/ },
  { name: 'an index.json entry pointing elsewhere', make: edit((_, _m, i) => (i.manifests[0].digest = i.manifests[1].digest)), code: 7, culprit: /example\.com\/app\/web:1\.0 points at/ },
  { name: 'an image missing from index.json', make: edit((_, _m, i) => i.manifests.pop()), code: 7, culprit: /has no entry for example\.com\/app\/tool:2\.0/ },
];

const hostileMirrors: CaseOf[] = [
  { name: 'a registry that walks out of certs.d', make: edit((_, m) => (m.mirrors[0].registry = '../../../../tmp/x')), code: 7, culprit: /mirrors\[0\]\.registry: "\.\.\/\.\.\/\.\.\/\.\.\/tmp\/x"/ },
  { name: 'a registry with a TOML table after a newline', make: edit((_, m) => (m.mirrors[0].registry = 'x\n[host."http://evil"]')), code: 7, culprit: /mirrors\[0\]\.registry: "x\\n\[host/ },
  { name: 'a registry that splits into two paths', make: edit((_, m) => (m.mirrors[0].registry = 'x\n/etc/shadow\ny')), code: 7, culprit: /mirrors\[0\]\.registry: "x\\n\/etc\/shadow\\ny"/ },
  { name: 'a registry (registry mode) that is not one of the bundle\'s images', make: edit((_, m) => (m.registry = { image: 'docker.io/evil/registry:1', port: 5000 })), code: 7, culprit: /registry\.image: "docker\.io\/evil\/registry:1" is not one of the bundle's images/ },
  { name: 'a registry port that is not a port', make: edit((_, m) => (m.registry = { image: web(m).name, port: 70000 })), code: 7, culprit: /registry\.port: 70000 is not a port/ },
  { name: 'an endpoint with credentials in it', make: edit((_, m) => (m.mirrors[0].endpoints = ['https://user:secret@mirror.example.com'])), code: 7, culprit: /credentials in the URL are not allowed/ },
  { name: 'an endpoint that is a file', make: edit((_, m) => (m.mirrors[0].endpoints = ['file:///etc/passwd'])), code: 7, culprit: /only http and https/ },
  { name: 'an endpoint with a quote', make: edit((_, m) => (m.mirrors[0].endpoints = ['https://mirror.example.com/"x'])), code: 7, culprit: /mirrors\[0\]\.endpoints\[0\]/ },
  { name: 'skipVerify that is not a boolean', make: edit((_, m) => (m.mirrors[0].skipVerify = 'yes')), code: 7, culprit: /skipVerify/ },
];

const hugeJson: CaseOf[] = [
  { name: 'lading.json nested 1,000,000 levels deep', make: edit((p) => (p.rawMetadata = Buffer.from('['.repeat(1_000_000) + ']'.repeat(1_000_000)))), code: 7, culprit: /lading\.json: too large to read \(nested deeper/ },
  { name: 'lading.json of 60 MiB of empty objects', make: edit((p) => (p.rawMetadata = Buffer.from(`[${'{},'.repeat(20 << 20)}{}]`))), code: 7, culprit: /lading\.json: too large to read \(more than/ },
  { name: 'index.json that is not JSON', make: edit((p) => (p.rawIndex = Buffer.from('{"manifests": [ '))), code: 7, culprit: /index\.json: not valid JSON/ },
  { name: 'lading.json with an escape sequence in a key', make: edit((p) => (p.rawMetadata = Buffer.from(`{"schema":"\\u001b]0;owned\\u0007"}`))), code: 7, culprit: /schema: is "\\e\]0;owned\\x07"/ },
];

export const HOSTILE_BUNDLES: HostileCase[] = [
  ...metadataLies.map((c) => ({ ...c, class: 'lie in lading.json' })),
  ...claimLies.map((c) => ({ ...c, class: 'lading.json against the manifests' })),
  ...indexLies.map((c) => ({ ...c, class: 'index.json against lading.json' })),
  ...hostileMirrors.map((c) => ({ ...c, class: 'hostile mirror' })),
  ...hugeJson.map((c) => ({ ...c, class: 'deep, huge or escaping JSON' })),
];
