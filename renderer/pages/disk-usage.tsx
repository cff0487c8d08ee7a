/**
 * Where the bytes go: the blob store on disk, each repository's unique and shared bytes, free space;
 * and getting space back: garbage collection (preview, collect, history), the other maintenance tasks
 * and their schedule; and moving it all to another store (storage-copy-section.tsx).
 */
import { Link } from 'react-router';
import { FolderOpen, HardDrive, Info } from 'lucide-react';
import type { DiskUsage, MaintenanceOverview } from '../../server/registry/api-types.ts';
import { api, isDesktop, native } from '../api.ts';
import { UsageChart } from '../components/bar-chart.tsx';
import { Bytes } from '../components/bytes.tsx';
import { Card, PageHeader, Stat } from '../components/page.tsx';
import { Table } from '../components/table.tsx';
import { Loaded } from '../components/loaded.tsx';
import { EmptyState } from '../components/states.tsx';
import { formatBytes, formatCount, formatInterval } from '../format.ts';
import { useResource, type Resource } from '../hooks/use-resource.ts';
import { runFinished, runQueuedOrFinished } from '../hooks/use-run.ts';
import { repositoryLink } from '../links.ts';
import { GarbageCollectionCard, GcHistoryCard } from './gc-sections.tsx';
import { MaintenanceCard, ScheduleCard } from './maintenance-sections.tsx';
import { StorageCopyCard } from './storage-copy-section.tsx';

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.max(0, Math.min(100, (part / whole) * 100)).toFixed(2)}%` : '0%';
}

/** The disk of the data directory: Berth's bytes, other files, free space. */
function VolumeCard({ data, volume }: { data: DiskUsage; volume: NonNullable<DiskUsage['volume']> }) {
  const volumeUsed = volume.totalBytes - volume.freeBytes;
  return (
    <Card title="Volume" hint="The disk that holds the data directory.">
      <div className="volume" role="img" aria-label={`Berth uses ${formatBytes(data.bytesOnDisk)}, other files ${formatBytes(Math.max(0, volumeUsed - data.bytesOnDisk))}, ${formatBytes(volume.freeBytes)} free`}>
        <span style={{ width: percent(data.bytesOnDisk, volume.totalBytes), background: 'var(--accent)', minWidth: data.bytesOnDisk > 0 ? 3 : 0 }} />
        <span style={{ width: percent(volumeUsed - data.bytesOnDisk, volume.totalBytes), background: 'var(--faint)' }} />
      </div>
      <div className="legend">
        <span>
          <span className="swatch" style={{ background: 'var(--accent)' }} />
          Berth {formatBytes(data.bytesOnDisk)}
        </span>
        <span>
          <span className="swatch" style={{ background: 'var(--faint)' }} />
          Other files {formatBytes(Math.max(0, volumeUsed - data.bytesOnDisk))}
        </span>
        <span>
          <span className="swatch" style={{ background: 'var(--surface-2)', border: '1px solid var(--border)' }} />
          Free {formatBytes(volume.freeBytes)}
        </span>
      </div>
      <UnreferencedNote data={data} />
    </Card>
  );
}

/** An S3 bucket or Azure container: where it is and what Berth keeps in it (no free space to show). */
function BucketCard({ data }: { data: DiskUsage }) {
  const { storage } = data;
  const what = storage.driver === 's3' ? 'S3 bucket' : 'Azure container';
  return (
    <Card title={storage.driver === 's3' ? 'Bucket' : 'Container'} hint={`Blobs, manifests, tags and uploads are kept in an ${what}.`}>
      <dl className="kv" data-testid="bucket">
        <dt>Location</dt>
        <dd>
          <code data-testid="bucket-location">{storage.location}</code>
        </dd>
        <dt>Objects</dt>
        <dd data-testid="bucket-objects">{formatCount(storage.objects, 'object')}</dd>
        <dt>Stored</dt>
        <dd data-testid="bucket-bytes">
          <Bytes value={storage.bytes} />
        </dd>
      </dl>
      <UnreferencedNote data={data} />
    </Card>
  );
}

/**
 * What no image uses any more, and when a collection frees it: its dry run keeps what is younger than
 * the grace window (pushes in progress), so "now" can be 0 while deleted images' bytes wait it out.
 */
function UnreferencedNote({ data }: { data: DiskUsage }) {
  if (data.unreferencedBytes <= 0) return null;
  const waiting = data.reclaimableAfterGraceBytes - data.reclaimableByGcBytes;
  return (
    <p className="callout" style={{ marginTop: 14 }}>
      <Info size={17} aria-hidden />
      <span data-testid="unreferenced-bytes">
        <Bytes value={data.unreferencedBytes} /> {data.volume ? 'on disk' : 'stored'} belong to no image any more (deleted tags and repositories, unfinished pushes).
        Deleting only unlinks; garbage collection frees these bytes:{' '}
        {waiting > 0 ? (
          <>
            <Bytes value={data.reclaimableByGcBytes} /> now, and <Bytes value={waiting} /> more once they are older than the {formatInterval(data.gcGraceSeconds)} grace
            window, which keeps pushes in progress safe.
          </>
        ) : (
          <>
            <Bytes value={data.reclaimableByGcBytes} /> now.
          </>
        )}
      </span>
    </p>
  );
}

/** The measured usage: headline numbers, the volume (or bucket), and each repository (chart and table). */
function DiskUsageView({ data, overview, reload }: { data: DiskUsage; overview: Resource<MaintenanceOverview>; reload(): void }) {
  const { volume } = data;
  return (
    <>
      <div className="stats">
        <Stat testId="bytes-on-disk" label={volume ? 'On disk' : 'Stored'} value={<Bytes value={data.bytesOnDisk} />} hint={formatCount(data.blobCount, 'blob')} />
        <Stat testId="referenced-bytes" label="Used by images" value={<Bytes value={data.referencedBytes} />} hint="shared layers counted once" />
        <Stat testId="shared-bytes" label="Shared" value={<Bytes value={data.sharedBytes} />} hint="stored once, used by several repositories" />
        {data.cachedBytes > 0 && (
          <Stat testId="cached-bytes" label="Mirror cache" value={<Bytes value={data.cachedBytes} />} hint={<Link to="/mirrors">pulled through upstreams; the rest was pushed</Link>} />
        )}
        {volume ? (
          <Stat testId="free-bytes" label="Free on volume" value={<Bytes value={volume.freeBytes} />} hint={`of ${formatBytes(volume.totalBytes)}`} />
        ) : (
          <Stat testId="bucket-objects-stat" label={data.storage.driver === 's3' ? 'In the bucket' : 'In the container'} value={formatCount(data.storage.objects, 'object')} hint={<Bytes value={data.storage.bytes} />} />
        )}
        <Stat
          testId="reclaimable-bytes"
          label="Reclaimable now"
          value={<Bytes value={data.reclaimableByGcBytes} />}
          hint={
            <>
              <span data-testid="reclaimable-after-grace-bytes">
                <Bytes value={data.reclaimableAfterGraceBytes} />
              </span>{' '}
              after the {formatInterval(data.gcGraceSeconds)} <a href="#garbage-collection">grace window</a>
            </>
          }
        />
      </div>
      {volume ? <VolumeCard data={data} volume={volume} /> : <BucketCard data={data} />}
      <Loaded resource={overview} errorTitle="Could not load the maintenance settings" loadingLabel="Loading garbage collection" rows={4}>
        {(o) => <GarbageCollectionCard overview={o} onCollected={reload} />}
      </Loaded>
      {data.repositories.length === 0 ? (
        <Card>
          <EmptyState icon={<HardDrive size={26} />} title="No images yet">
            <p>
              Push an image and its layers show up here. <Link to="/">How to push</Link>
            </p>
          </EmptyState>
        </Card>
      ) : (
        <>
          <Card title="By repository" hint="A layer used by several repositories is stored once: it counts as shared in each, once in the totals.">
            <UsageChart repositories={data.repositories} />
          </Card>
          <Card flush>
            <Table testId="usage-table" caption="Disk use per repository" columns={['Repository', ...['Only here', 'Shared', 'Total', 'Blobs'].map((label) => ({ label, num: true }))]}>
              {data.repositories.map((r) => (
                <tr key={r.name} data-repository={r.name}>
                  <td>
                    <Link to={repositoryLink(r.name)}>{r.name}</Link>
                    {r.cached && (
                      <span className="chip" style={{ marginLeft: 6 }} title="Cached from an upstream (Mirrors)">
                        cache
                      </span>
                    )}
                  </td>
                  <td className="num" data-field="unique">
                    <Bytes value={r.uniqueBytes} />
                  </td>
                  <td className="num" data-field="shared">
                    <Bytes value={r.sharedBytes} />
                  </td>
                  <td className="num" data-field="total">
                    <Bytes value={r.totalBytes} />
                  </td>
                  <td className="num muted">{r.blobCount.toLocaleString()}</td>
                </tr>
              ))}
            </Table>
          </Card>
        </>
      )}
      <GcHistoryCard />
      {overview.data && (
        <>
          <MaintenanceCard overview={overview.data} onChanged={reload} />
          <ScheduleCard overview={overview.data} />
        </>
      )}
      <StorageCopyCard />
    </>
  );
}

export function DiskUsagePage() {
  const usage = useResource((signal) => api.diskUsage(signal), [], {
    refreshOn: (name, data) =>
      ['blob-pushed', 'manifest-pushed', 'manifest-deleted', 'repository-deleted', 'blob-deleted'].includes(name) || runFinished()(name, data),
  });
  // The settings, the schedule, the run in progress and the newest run of each kind.
  const overview = useResource((signal) => api.maintenance(signal), [], { refreshOn: runQueuedOrFinished() });
  const reload = () => {
    usage.reload();
    overview.reload();
  };
  return (
    <>
      <title>Disk usage · Berth</title>
      <PageHeader
        title="Disk usage"
        subtitle={usage.data ? <>Data directory <span className="path">{usage.data.dataDir}</span></> : 'What Berth stores, and where the space goes'}
        actions={
          isDesktop() && (
            <button type="button" onClick={() => native.openDataFolder()}>
              <FolderOpen size={15} aria-hidden /> Open data folder
            </button>
          )
        }
      />
      <Loaded resource={usage} errorTitle="Could not measure disk usage" loadingLabel="Measuring disk usage" rows={7}>
        {(data) => <DiskUsageView data={data} overview={overview} reload={reload} />}
      </Loaded>
    </>
  );
}
