/**
 * Progress of uploads in progress: bytes received and the rate over the last few seconds, sampled
 * from UploadService.activeUploads(). Sampling happens on request and, while someone watches (the live
 * event stream), once a second; nothing runs when nobody looks, so the upload hot path pays nothing.
 */
import type { UploadProgress } from './api-types.ts';
import type { ActiveUpload } from './uploads.ts';

/** The rate is measured over this window: long enough to smooth bursts, short enough to follow changes. */
const RATE_WINDOW_MS = 5_000;
const TICK_MS = 1_000;
/**
 * A session with no bytes for this long is not "in progress": its client went away without
 * cancelling (garbage collection purges such sessions).
 */
export const ABANDONED_AFTER_MS = 60 * 60 * 1000;

interface Sample {
  at: number;
  bytes: number;
}

interface Track {
  samples: Sample[];
  lastDataAt: number;
}

export interface UploadSource {
  activeUploads(): ActiveUpload[];
}

export class UploadMonitor {
  private readonly source: UploadSource;
  private readonly now: () => number;
  private readonly tracks = new Map<string, Track>();
  private readonly listeners = new Set<(uploads: UploadProgress[]) => void>();
  private timer: NodeJS.Timeout | null = null;
  private lastCount = 0;

  constructor(source: UploadSource, now: () => number = Date.now) {
    this.source = source;
    this.now = now;
  }

  /** Uploads in progress now, with their rates. */
  snapshot(): UploadProgress[] {
    const now = this.now();
    const active = this.source.activeUploads();
    const seen = new Set<string>();
    const out: UploadProgress[] = [];
    for (const upload of active) {
      seen.add(upload.id);
      let track = this.tracks.get(upload.id);
      if (!track) {
        track = { samples: [], lastDataAt: upload.size > 0 || upload.receiving ? now : upload.startedAt.getTime() };
        this.tracks.set(upload.id, track);
      }
      const previous = track.samples.at(-1);
      if (previous && upload.size !== previous.bytes) track.lastDataAt = now;
      track.samples.push({ at: now, bytes: upload.size });
      while (track.samples.length > 2 && track.samples[0]!.at < now - RATE_WINDOW_MS) track.samples.shift();
      if (!upload.receiving && now - track.lastDataAt > ABANDONED_AFTER_MS) continue;
      out.push({
        id: upload.id,
        repository: upload.repository,
        bytes: upload.size,
        rate: rate(track.samples, upload),
        startedAt: upload.startedAt.toISOString(),
        receiving: upload.receiving,
        lastDataAt: new Date(track.lastDataAt).toISOString(),
      });
    }
    for (const id of this.tracks.keys()) if (!seen.has(id)) this.tracks.delete(id);
    return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }

  /**
   * Calls `listener` every second with the uploads in progress while there are any, and once more
   * when the last one ends. Returns the unsubscribe function.
   */
  subscribe(listener: (uploads: UploadProgress[]) => void): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  private tick(): void {
    const uploads = this.snapshot();
    if (uploads.length === 0 && this.lastCount === 0) return;
    this.lastCount = uploads.length;
    for (const listener of this.listeners) listener(uploads);
  }
}

/** Bytes per second across the samples; with a single sample, the average since the upload started. */
function rate(samples: Sample[], upload: ActiveUpload): number {
  const first = samples[0]!;
  const last = samples.at(-1)!;
  if (last.at > first.at) return Math.max(0, Math.round(((last.bytes - first.bytes) * 1000) / (last.at - first.at)));
  const elapsed = last.at - upload.startedAt.getTime();
  return elapsed > 0 ? Math.round((upload.size * 1000) / elapsed) : 0;
}
