"""
The kit's catalog populate (a cross-repository mount of the `tiny` image's two blobs, then its
manifest PUT, per new repository), in interleaved batches on registries already running, with the
kit's own client code (registry_bench.py: Reg, put_blob). The kit populates once, on a cold server,
against one pass of Distribution's; batches on warm servers, the order turning each batch, give the
ratio's spread on this machine. Prints JSON: per registry, per batch, repos/s, the registry's CPU per
repository, and the mean mount and manifest PUT time; and, measured in --probe-dir before and after
the batches, how long an fsync of a small new file takes on that disk (a virtual disk's latency moves
from hour to hour, and a crash-safe manifest PUT waits for two rounds of them).

  python3 bench/populate-batches.py --kit DIR --images DIR [--probe-dir DIR] [--batches 6] [--per 250] LABEL=URL=PID ...
"""
import argparse
import json
import os
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--kit", required=True)
parser.add_argument("--images", required=True)
parser.add_argument("--probe-dir", default=None)
parser.add_argument("--batches", type=int, default=6)
parser.add_argument("--per", type=int, default=250)
parser.add_argument("registries", nargs="+")
args = parser.parse_args()
sys.path.insert(0, args.kit)
from registry_bench import Reg, layout_manifest, put_blob  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fsync_ms(directory, n=100):
    """Median time of write + fsync of a new 80-byte file, as a tag's temp file is written."""
    if not directory:
        return None
    os.makedirs(directory, exist_ok=True)
    times = []
    for i in range(n):
        name = os.path.join(directory, f"fsync-probe-{os.getpid()}-{i}")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"x" * 80)
            s = time.monotonic()
            os.fsync(fd)
            times.append((time.monotonic() - s) * 1000)
        finally:
            os.close(fd)
            os.unlink(name)
    return sorted(times)[n // 2]


registries = []
for spec in args.registries:
    label, url, pid = spec.split("=")
    registries.append({"label": label, "url": url, "pid": int(pid)})

layout = os.path.join(args.images, "tiny")
desc, raw, manifest = layout_manifest(layout)
blobs = [manifest["config"]] + manifest["layers"]
data = {b["digest"]: open(os.path.join(layout, "blobs", "sha256", b["digest"][7:]), "rb").read() for b in blobs}
prefix = f"batches{int(time.time())}"
for r in registries:
    host = r["url"].split("//", 1)[1]
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}", f"docker://{host}/{prefix}/tiny"], check=True)

results = {r["label"]: {"reposPerSecond": [], "cpuMsPerRepo": [], "mountMs": [], "putMs": []} for r in registries}
fsync_before = fsync_ms(args.probe_dir)
for batch in range(args.batches):
    for i in range(len(registries)):
        r = registries[(i + batch) % len(registries)]
        reg = Reg(r["url"])
        mount = put = 0.0
        cpu0, t0 = cpu_seconds(r["pid"]), time.monotonic()
        for n in range(args.per):
            repo = f"{prefix}/cat/b{batch}r{n:04d}"
            for b in blobs:
                s = time.monotonic()
                if put_blob(reg, repo, b["digest"], data[b["digest"]], mount_from=f"{prefix}/tiny") != "mounted":
                    raise SystemExit(f"{r['label']}: {b['digest']} was uploaded, not mounted")
                mount += time.monotonic() - s
            s = time.monotonic()
            status, _, body = reg.req("PUT", f"/v2/{repo}/manifests/latest", body=raw, headers={"Content-Type": desc["mediaType"]})
            put += time.monotonic() - s
            if status != 201:
                raise SystemExit(f"{r['label']}: manifest PUT {repo}: {status} {body[:200]!r}")
        seconds, cpu = time.monotonic() - t0, cpu_seconds(r["pid"]) - cpu0
        out = results[r["label"]]
        out["reposPerSecond"].append(args.per / seconds)
        out["cpuMsPerRepo"].append(cpu / args.per * 1000)
        out["mountMs"].append(mount / args.per / len(blobs) * 1000)
        out["putMs"].append(put / args.per * 1000)
        print(f"[populate] batch {batch + 1}/{args.batches} {r['label']}: {args.per / seconds:.1f} repos/s", file=sys.stderr, flush=True)
fsync_after = fsync_ms(args.probe_dir)
print(json.dumps({"batches": args.batches, "per": args.per, "fsyncMs": [fsync_before, fsync_after], "registries": results}))
