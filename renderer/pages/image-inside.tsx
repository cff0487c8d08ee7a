/**
 * Inside an image (issue 15): its file system (the layers applied, browsable and searchable, with
 * the layer that wrote each path and the space wasted on hidden files), one file's content, the
 * diff of two images, and what is attached to it (signatures, SBOMs, attestations).
 */
import { useState, type ReactNode } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { FsNode, ImageLayerView, SbomPackage, VerifyView } from '../../server/registry/inspect-types.ts';
import { api } from '../api.ts';
import { Bytes } from '../components/bytes.tsx';
import { CodeBlock, Digest } from '../components/copy.tsx';
import { Loaded } from '../components/loaded.tsx';
import { Card, PageHeader, Stat } from '../components/page.tsx';
import { Table } from '../components/table.tsx';
import { shortDigest } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';
import { imageLink, repositoryLink } from '../links.ts';

function mode(type: string, bits: number): string {
  const letter = ({ dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', hardlink: 'h' } as Record<string, string>)[type] ?? '-';
  let out = letter;
  for (let shift = 6; shift >= 0; shift -= 3) {
    const part = (bits >> shift) & 7;
    out += (part & 4 ? 'r' : '-') + (part & 2 ? 'w' : '-') + (part & 1 ? 'x' : '-');
  }
  return out;
}

export function imageFilesLink(name: string, reference: string, query: Record<string, string> = {}): string {
  const params = new URLSearchParams(query);
  return `${imageLink(name, reference)}/files${params.size ? `?${params}` : ''}`;
}

export function artifactsLink(name: string, reference: string): string {
  return `${imageLink(name, reference)}/artifacts`;
}

export function refOf(name: string, reference: string): string {
  return reference.includes(':') ? `${name}@${reference}` : `${name}:${reference}`;
}

export function diffLink(from: string, to = ''): string {
  return `/diff?${new URLSearchParams({ from, to })}`;
}

function crumbsOf(name: string, reference: string, last: string) {
  return [{ label: 'Repositories', to: '/' }, { label: name, to: repositoryLink(name) }, { label: reference.includes(':') ? shortDigest(reference) : reference, to: imageLink(name, reference) }, { label: last }];
}

function LayersTable({ layers }: { layers: ImageLayerView[] }) {
  return (
    <Table columns={['#', 'Layer', 'Made by', { label: 'Compressed', num: true }, { label: 'Files add', num: true }, 'Entries', 'Status']} testId="image-layers">
      {layers.map((l) => (
        <tr key={l.index}>
          <td>{l.index}</td>
          <td><Digest digest={l.digest} /> <span className="muted">{l.compression ?? ''}</span></td>
          <td className="mono" style={{ maxWidth: 360, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }} title={l.createdBy ?? ''}>{l.createdBy ?? '—'}</td>
          <td className="num"><Bytes value={l.size} /></td>
          <td className="num"><Bytes value={l.addedBytes} /></td>
          <td>{l.entries?.toLocaleString() ?? '—'}</td>
          <td>
            {l.problem ? <span className="chip warn" title={l.problem.message}>{l.problem.code.toLowerCase().replace(/_/g, ' ')}: {l.problem.message}</span> : <span className="chip">read</span>}
            {l.rejected.length > 0 && <span className="chip warn" title={l.rejected.map((r) => r.reason).join('\n')}>{l.rejected.length} path(s) escaping the root left out</span>}
          </td>
        </tr>
      ))}
    </Table>
  );
}

export function ImageFilesPage({ name, reference }: { name: string; reference: string }) {
  const [params, setParams] = useSearchParams();
  const path = params.get('path') ?? '';
  const search = params.get('search') ?? '';
  const platform = params.get('platform') ?? '';
  const open = params.get('open');
  const [typed, setTyped] = useState(search);
  const files = useResource((signal) => api.imageFiles(name, reference, { path, search, platform }, signal), [name, reference, path, search, platform], { keepPrevious: true });
  const go = (next: Record<string, string | null>) => {
    const merged = new URLSearchParams(params);
    for (const [k, v] of Object.entries(next)) if (v) merged.set(k, v); else merged.delete(k);
    setParams(merged);
  };
  const parts = path ? path.split('/') : [];
  return (
    <>
      <title>{`Files of ${name}:${reference} · Berth`}</title>
      <PageHeader title={`Files of ${name}${reference.includes(':') ? `@${shortDigest(reference)}` : `:${reference}`}`} crumbs={crumbsOf(name, reference, 'Files')}
        actions={<span className="actions"><Link className="button" to={diffLink(refOf(name, reference))}>Compare with…</Link><Link className="button" to={artifactsLink(name, reference)}>Signatures & SBOMs</Link></span>} />
      <Loaded resource={files} errorTitle="Could not read this image's files" loadingLabel="Reading the layers (a first look at a large image takes a few seconds)" rows={10}>
        {(data) => (
          <>
            <div className="stats">
              <Stat label="Files" value={data.totals.files.toLocaleString()} hint={`${data.totals.directories.toLocaleString()} directories`} testId="fs-files" />
              <Stat label="Content" value={<Bytes value={data.totals.bytes} />} hint="regular files, uncompressed" />
              <Stat label="Wasted" value={<Bytes value={data.wasted.bytes} />} hint={`${data.wasted.files} hidden files in lower layers`} testId="fs-wasted" />
              <Stat label="Layers" value={data.layers.length} hint={data.image.platform ?? undefined} />
            </div>
            <Card title="File system" hint="every layer applied in order, whiteouts and opaque directories honoured"
              actions={
                <form className="actions" onSubmit={(e) => { e.preventDefault(); go({ search: typed || null, open: null }); }}>
                  <input aria-label="Search paths" placeholder="Search paths" value={typed} onChange={(e) => setTyped(e.target.value)} />
                  {search && <button type="button" className="small" onClick={() => { setTyped(''); go({ search: null }); }}>Clear</button>}
                </form>
              }>
              {!search && (
                <p className="actions" data-testid="fs-breadcrumbs">
                  <button type="button" className="small" onClick={() => go({ path: null, open: null })}>/</button>
                  {parts.map((p, i) => (
                    <button key={i} type="button" className="small" onClick={() => go({ path: parts.slice(0, i + 1).join('/'), open: null })}>{p}/</button>
                  ))}
                </p>
              )}
              {search && <p className="muted">{data.nodes.length} path(s) matching “{search}”{data.search?.truncated ? ' (the first 500)' : ''}</p>}
              <Table columns={['Mode', 'Owner', { label: 'Size', num: true }, 'Layer', 'Path']} testId="fs-table">
                {data.nodes.map((n) => (
                  <tr key={n.path}>
                    <td className="mono">{mode(n.type, n.mode)}</td>
                    <td className="mono">{n.uid}:{n.gid}</td>
                    <td className="num"><Bytes value={n.size} /></td>
                    <td><span className={n.changed ? 'chip warn' : 'chip'} title={n.changed ? 'changed a path of a lower layer' : 'added by this layer'}>{n.layer}{n.changed ? ' changed' : ''}</span></td>
                    <td className="mono">
                      {n.type === 'dir' ? (
                        <button type="button" className="link" onClick={() => go({ path: n.path, search: null, open: null })}>{search ? `/${n.path}` : n.name}/</button>
                      ) : (
                        <button type="button" className="link" onClick={() => go({ open: n.path })}>{search ? `/${n.path}` : n.name}</button>
                      )}
                      {n.linkTarget !== undefined && <span className="muted"> → {n.type === 'hardlink' ? '/' : ''}{n.linkTarget}</span>}
                    </td>
                  </tr>
                ))}
              </Table>
            </Card>
            {open && <FileCard name={name} reference={reference} path={open} platform={platform} onClose={() => go({ open: null })} />}
            <Card title="Layers" hint="the uncompressed digest of each is checked against the config's diff_ids">
              <LayersTable layers={data.layers} />
            </Card>
            {data.wasted.top.length > 0 && (
              <Card title="Wasted space" hint="bytes shipped in lower layers that a later layer overwrote or deleted">
                <Table columns={['Path', 'How', 'Layers', { label: 'Bytes', num: true }]} testId="fs-wasted-table">
                  {data.wasted.top.slice(0, 20).map((w) => (
                    <tr key={w.path}><td className="mono">/{w.path}</td><td>{w.how}</td><td>{w.layers.join(', ')}</td><td className="num"><Bytes value={w.bytes} /></td></tr>
                  ))}
                </Table>
              </Card>
            )}
          </>
        )}
      </Loaded>
    </>
  );
}

function FileCard({ name, reference, path, platform, onClose }: { name: string; reference: string; path: string; platform: string; onClose(): void }) {
  const file = useResource((signal) => api.imageFile(name, reference, path, platform || undefined, signal), [name, reference, path, platform]);
  const [saving, setSaving] = useState(false);
  async function download(url: string, fileName: string) {
    setSaving(true);
    try {
      const blob = await api.downloadFile(url);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = fileName;
      a.click();
      URL.revokeObjectURL(a.href);
    } finally {
      setSaving(false);
    }
  }
  return (
    <Card title={`/${path}`} actions={<button type="button" className="small" onClick={onClose}>Close</button>}>
      <Loaded resource={file} errorTitle="Could not read this file" loadingLabel="Reading the file from its layer" card={false}>
        {(f) => (
          <div data-testid="file-view">
            <p className="actions">
              <span className="chip accent">{f.kind}</span>
              <span><Bytes value={f.node.size} /></span>
              <span className="muted">from layer {f.node.layer}</span>
              {f.downloadUrl && <button type="button" className="small" disabled={saving} onClick={() => void download(f.downloadUrl!, f.node.name)}>Download</button>}
            </p>
            {f.text !== null ? (
              <CodeBlock code={f.text} label={`content of /${path}`} caption={f.truncated ? 'the first 1 MiB; download for the rest' : undefined} />
            ) : (
              <p className="muted">{f.node.type === 'file' ? 'Binary content: download it to look inside.' : 'No content to show.'}</p>
            )}
          </div>
        )}
      </Loaded>
    </Card>
  );
}

function change(before: string | null, after: string | null): ReactNode {
  if (before === null) return <><span className="chip accent">added</span> {after}</>;
  if (after === null) return <><span className="chip warn">removed</span> {before}</>;
  return <>{before} → {after}</>;
}

export function ImageDiffPage() {
  const [params, setParams] = useSearchParams();
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  const platform = params.get('platform') ?? '';
  const timestamps = params.get('timestamps') === '1';
  const [draft, setDraft] = useState({ from, to, platform });
  const ready = from !== '' && to !== '';
  const diff = useResource((signal) => (ready ? api.imageDiff(from, to, { platform, timestamps }, signal) : Promise.resolve(null)), [from, to, platform, timestamps]);
  const submit = () => setParams(new URLSearchParams(Object.entries({ ...draft, timestamps: timestamps ? '1' : '' }).filter((e) => e[1])));
  return (
    <>
      <title>Compare images · Berth</title>
      <PageHeader title="Compare images" subtitle="config, layers and files of two images; timestamps ignored unless asked" crumbs={[{ label: 'Repositories', to: '/' }, { label: 'Compare' }]} />
      <Card>
        <form className="actions" onSubmit={(e) => { e.preventDefault(); submit(); }}>
          <input aria-label="From image" placeholder="repository:tag or @digest" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
          <input aria-label="To image" placeholder="repository:tag or @digest" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
          <input aria-label="Platform" placeholder="platform (linux/amd64)" value={draft.platform} onChange={(e) => setDraft({ ...draft, platform: e.target.value })} style={{ width: 160 }} />
          <label><input type="checkbox" checked={timestamps} onChange={(e) => { const next = new URLSearchParams(params); if (e.target.checked) next.set('timestamps', '1'); else next.delete('timestamps'); setParams(next); }} /> timestamps</label>
          <button type="submit" className="primary">Compare</button>
        </form>
      </Card>
      {ready && (
        <Loaded resource={diff} errorTitle="Could not compare these images" loadingLabel="Reading both images">
          {(d) => d && (
            <>
              <div className="stats">
                <Stat label="Added" value={d.summary.added} testId="diff-added" />
                <Stat label="Removed" value={d.summary.removed} testId="diff-removed" />
                <Stat label="Changed" value={d.summary.changed} testId="diff-changed" />
                <Stat label="Size change" value={<>{d.summary.sizeDelta >= 0 ? '+' : '−'}<Bytes value={Math.abs(d.summary.sizeDelta)} /></>} />
                <Stat label="Shared layers" value={`${d.layers.shared.length} of ${d.layers.shared.length + d.layers.onlyTo.length}`} />
              </div>
              <Card title="Config" hint={`${d.from.repository}@${shortDigest(d.from.digest)} → ${d.to.repository}@${shortDigest(d.to.digest)}`}>
                {d.config.length === 0 ? <p className="muted">No config differences.</p> : (
                  <Table columns={['Field', 'Change']} testId="diff-config">
                    {d.config.map((c, i) => <tr key={i}><td className="mono">{c.field}</td><td className="mono">{change(c.before, c.after)}</td></tr>)}
                  </Table>
                )}
              </Card>
              <Card title="Files">
                <Table columns={['', 'Path', 'What', { label: 'Size change', num: true }]} testId="diff-files">
                  {[...d.files.added.map((c) => ['+', c] as const), ...d.files.removed.map((c) => ['−', c] as const), ...d.files.changed.map((c) => ['~', c] as const)].map(([mark, c]) => (
                    <tr key={`${mark}${c.path}`}>
                      <td className="mono">{mark}</td>
                      <td className="mono">/{c.path}{c.type === 'dir' ? '/' : ''}</td>
                      <td>{c.changes ? c.changes.join(', ') : mark === '+' ? 'added' : 'removed'}</td>
                      <td className="num">{c.sizeDelta >= 0 ? '+' : '−'}<Bytes value={Math.abs(c.sizeDelta)} /></td>
                    </tr>
                  ))}
                </Table>
              </Card>
            </>
          )}
        </Loaded>
      )}
    </>
  );
}

function PackageTable({ packages }: { packages: SbomPackage[] }) {
  const [q, setQ] = useState('');
  const shown = q ? packages.filter((p) => `${p.name} ${p.version ?? ''} ${p.purl ?? ''} ${p.licenses.join(' ')}`.toLowerCase().includes(q.toLowerCase())) : packages;
  return (
    <>
      <p className="actions"><input aria-label="Search packages" placeholder="Search packages" value={q} onChange={(e) => setQ(e.target.value)} /> <span className="muted">{shown.length} of {packages.length}</span></p>
      <Table columns={['Package', 'Version', 'Type', 'Licenses', 'purl']} testId="sbom-packages">
        {shown.slice(0, 1000).map((p, i) => (
          <tr key={i}><td>{p.name}</td><td className="mono">{p.version ?? '—'}</td><td>{p.type ?? '—'}</td><td>{p.licenses.join(', ') || '—'}</td><td className="mono muted">{p.purl ?? ''}</td></tr>
        ))}
      </Table>
    </>
  );
}

export function ImageArtifactsPage({ name, reference }: { name: string; reference: string }) {
  const artifacts = useResource((signal) => api.artifacts(name, reference, signal), [name, reference], { refreshOn: ['manifest-pushed', 'manifest-deleted', 'tag-deleted'] });
  const [params, setParams] = useSearchParams();
  const sbomDigest = params.get('sbom');
  const sbom = useResource((signal) => (sbomDigest ? api.sbom(name, reference, sbomDigest, signal) : Promise.resolve(null)), [name, reference, sbomDigest]);
  const [key, setKey] = useState('');
  const [verify, setVerify] = useState<VerifyView | string | null>(null);
  return (
    <>
      <title>{`Signatures and SBOMs of ${name}:${reference} · Berth`}</title>
      <PageHeader title={`Signatures, SBOMs and attestations`} subtitle={`${name}${reference.includes(':') ? `@${shortDigest(reference)}` : `:${reference}`}`} crumbs={crumbsOf(name, reference, 'Attached')} />
      <Loaded resource={artifacts} errorTitle="Could not list what is attached" loadingLabel="Looking for referrers and cosign tags">
        {(a) => (
          <>
            <div className="stats">
              <Stat label="Signatures" value={a.counts.signature} testId="count-signatures" />
              <Stat label="SBOMs" value={a.counts.sbom} testId="count-sboms" />
              <Stat label="Attestations" value={a.counts.attestation} />
              <Stat label="Other" value={a.counts.other} />
            </div>
            <Card title="Attached" hint="found through the OCI referrers API, cosign's sha256-<digest>.sig/.att/.sbom tags and BuildKit's attestations in the image index">
              {a.artifacts.length === 0 ? <p className="muted">Nothing is attached to this image.</p> : (
                <Table columns={['Kind', 'Artifact', 'Found via', 'Details']} testId="artifacts">
                  {a.artifacts.map((x) => (
                    <tr key={x.digest}>
                      <td><span className="chip accent">{x.kind}</span></td>
                      <td><Link to={imageLink(name, x.digest)}><Digest digest={x.digest} /></Link><div className="muted">{x.artifactType ?? x.mediaType}</div></td>
                      <td>{x.via === 'tag' ? <span className="mono">{x.tag}</span> : x.via === 'index' ? <>image index (BuildKit){x.attests && <div className="muted">for {x.attests.platform ?? <Digest digest={x.attests.digest} />}</div>}</> : 'referrers API'}</td>
                      <td>
                        {x.signatures.map((s, i) => (
                          <div key={i}>{s.format}{s.identity ? ` · ${s.identity}` : ''}{s.certificate ? ` · signed by ${s.certificate.subject}${s.certificate.emails ? ` (${s.certificate.emails.join(', ')})` : ''}` : ''}{Object.entries(s.details).map(([k, v]) => ` · ${k}: ${v}`).join('')}</div>
                        ))}
                        {x.sbom && <button type="button" className="link" onClick={() => setParams({ sbom: x.digest })}>{x.sbom.format.toUpperCase()} SBOM: {x.sbom.packages} packages{x.sbom.name ? ` (${x.sbom.name})` : ''}</button>}
                        {x.predicateTypes.map((p) => <div key={p} className="mono muted">{p}</div>)}
                        {x.provenance && (
                          <div data-testid="provenance">
                            built by <span className="mono">{x.provenance.builder ?? 'an unnamed builder'}</span>
                            {x.provenance.finished ? ` · ${new Date(x.provenance.finished).toLocaleString()}` : ''}
                            {x.provenance.materials.length > 0 && <div className="muted">from {x.provenance.materials.slice(0, 3).join(', ')}{x.provenance.materials.length > 3 ? ` and ${x.provenance.materials.length - 3} more` : ''}</div>}
                          </div>
                        )}
                      </td>
                    </tr>
                  ))}
                </Table>
              )}
            </Card>
            {a.counts.signature > 0 && (
              <Card title="Verify cosign signatures" hint="paste the signer's public key (cosign.pub, ECDSA P-256)">
                <form onSubmit={(e) => { e.preventDefault(); api.verify(name, reference, key).then(setVerify, (err: Error) => setVerify(err.message)); }}>
                  <textarea aria-label="Public key" rows={4} style={{ width: '100%' }} placeholder="-----BEGIN PUBLIC KEY-----" value={key} onChange={(e) => setKey(e.target.value)} />
                  <p><button type="submit" className="primary" disabled={!key.trim()}>Verify</button></p>
                </form>
                {typeof verify === 'string' && <p className="chip warn">{verify}</p>}
                {verify && typeof verify !== 'string' && (
                  <div data-testid="verify-result">
                    <p><span className={verify.verified ? 'chip accent' : 'chip warn'}>{verify.verified ? 'Verified' : 'Not verified'}</span> <span className="muted">key {verify.keyFingerprint.slice(0, 23)}…</span></p>
                    {verify.results.map((r, i) => <p key={i} className="muted">{shortDigest(r.artifact)}: {r.verified ? 'valid signature for this image' : r.reason}</p>)}
                  </div>
                )}
              </Card>
            )}
          </>
        )}
      </Loaded>
      {sbomDigest && (
        <Loaded resource={sbom} errorTitle="Could not read the SBOM" loadingLabel="Reading the SBOM">
          {(s) => s && (
            <Card title={`${s.format === 'spdx' ? 'SPDX' : 'CycloneDX'} ${s.specVersion ?? ''} SBOM${s.name ? `: ${s.name}` : ''}`} hint={`${s.packages.length} packages${s.tools.length ? ` · made by ${s.tools.join(', ')}` : ''}`}>
              <PackageTable packages={s.packages} />
            </Card>
          )}
        </Loaded>
      )}
    </>
  );
}

/** In a delete dialog: what is attached to the image (it stays, pointing to nothing, until collected). */
export function AttachedNote({ name, reference }: { name: string; reference: string }) {
  const attached = useResource((signal) => api.artifacts(name, reference, signal), [name, reference]);
  const list = attached.data?.artifacts ?? [];
  if (list.length === 0) return null;
  return (
    <div data-testid="delete-attached">
      <p><strong>Attached to it</strong> ({list.length}): these refer to the image and are left without a subject.</p>
      <ul>{list.map((a) => <li key={a.digest}>{a.kind}{a.sbom ? ` (${a.sbom.format})` : ''} {shortDigest(a.digest)}{a.tag ? ` · tag ${a.tag}` : ''}</li>)}</ul>
    </div>
  );
}

/** A summary line for the image page: links to the files, the comparison and what is attached. */
export function InsideLinks({ name, reference }: { name: string; reference: string }) {
  return (
    <p className="actions" style={{ marginBottom: 16 }} data-testid="inside-links">
      <Link className="button" to={imageFilesLink(name, reference)}>Browse files</Link>
      <Link className="button" to={diffLink(refOf(name, reference))}>Compare with…</Link>
      <Link className="button" to={artifactsLink(name, reference)}>Signatures & SBOMs</Link>
    </p>
  );
}

export type { FsNode };
