/** Space on the volume that holds the data directory (the disk usage view). */
import fs from 'node:fs/promises';

export interface VolumeSpace {
  /** Bytes an unprivileged user may still write (statfs f_bavail: what `df` shows as available). */
  freeBytes: number;
  totalBytes: number;
}

export async function volumeSpace(dir: string): Promise<VolumeSpace> {
  const st = await fs.statfs(dir);
  return { freeBytes: st.bavail * st.bsize, totalBytes: st.blocks * st.bsize };
}
