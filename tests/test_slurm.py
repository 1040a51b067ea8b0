#!/usr/bin/python3
"""A real single-node Slurm runs the array script of docs/scale-out.md (issue 17).

usage: test_slurm.py --inrgan PATH
Needs Debian's slurmctld, slurmd, slurm-client and munge (scripts/setup.sh --slurm) and root
(the daemons run as root here); exits 77 (skipped) otherwise. Writes a single-node slurm.conf
for this host in a temporary directory, starts munged, slurmctld and slurmd on free localhost
ports, submits the documented array script (4 shards of one image, sbatch --wait), stitches the
bands and compares with the single render byte for byte. The daemons are always stopped.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODEL = os.path.join(HERE, "data", "golden_tiny.safetensors")
TOOLS = ["munged", "slurmctld", "slurmd", "sbatch", "sinfo"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def find(tool):
    return shutil.which(tool) or next((p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.path.exists(p)), None)


def doc_script():
    """The Slurm array script of docs/scale-out.md (the ```sh block after '<!-- slurm-array -->')."""
    text = open(os.path.join(ROOT, "docs", "scale-out.md")).read()
    m = re.search(r"<!-- slurm-array -->\s*```sh\n(.*?)```", text, re.S)
    return m.group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    a = ap.parse_args()
    cli = os.path.abspath(a.inrgan)
    missing = [t for t in TOOLS if not find(t)]
    if missing:
        print(f"skip: not installed: {' '.join(missing)} (scripts/setup.sh --slurm)")
        return 77
    if os.getuid() != 0:
        print("skip: the test starts slurmctld/slurmd as root (CI runs as root)")
        return 77
    tmp = tempfile.mkdtemp(prefix="inrgan-slurm-")
    os.chmod(tmp, 0o755)
    procs = []
    ok = False
    try:
        host = socket.gethostname().split(".")[0]
        key = os.path.join(tmp, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        sock = os.path.join(tmp, "munge.sock")
        munged = [find("munged"), "-F", "-f", "--key-file", key, "--socket", sock, "--pid-file",
                  os.path.join(tmp, "munged.pid"), "--log-file", os.path.join(tmp, "munged.log"), "--seed-file",
                  os.path.join(tmp, "munged.seed")]
        procs.append(subprocess.Popen(munged, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        for d in ("state", "spool"):
            os.makedirs(os.path.join(tmp, d))
        cpus = os.cpu_count() or 1
        conf = os.path.join(tmp, "slurm.conf")
        with open(conf, "w") as f:
            f.write(f"""ClusterName=inrgantest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={tmp}/state
SlurmdSpoolDir={tmp}/spool
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmdPidFile={tmp}/slurmd.pid
SlurmctldLogFile={tmp}/slurmctld.log
SlurmdLogFile={tmp}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=100 State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        env = dict(os.environ, SLURM_CONF=conf)
        for k in list(env):
            if k.startswith("SLURM_") and k != "SLURM_CONF":
                del env[k]
        procs.append(subprocess.Popen([find("slurmctld"), "-D", "-i"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([find("slurmd"), "-D"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT))
        up = False
        for _ in range(120):
            r = subprocess.run([find("sinfo"), "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip() in ("idle", "mixed", "allocated"):
                up = True
                break
            time.sleep(0.5)
        print(("ok   " if up else "FAIL ") + "a single-node Slurm is up (sinfo: idle)", flush=True)
        if not up:
            for log in ("slurmctld.log", "slurmd.log", "munged.log"):
                p = os.path.join(tmp, log)
                if os.path.exists(p):
                    print(f"--- {log}\n" + open(p).read()[-3000:])
            return 1
        script = os.path.join(tmp, "bands.sbatch")
        with open(script, "w") as f:
            f.write(doc_script())
        out = os.path.join(tmp, "bands")
        jenv = dict(env, INRGAN=cli, MODEL=MODEL, OUT=out, SEED="5", SIZE="256x200", INRGAN_ARGS="--backend cpu")
        t0 = time.time()
        r = subprocess.run([find("sbatch"), "--wait", "-o", os.path.join(tmp, "job-%A_%a.out"), script], env=jenv,
                           cwd=tmp, capture_output=True, text=True, timeout=600)
        dt = time.time() - t0
        outs = "".join(open(os.path.join(tmp, n)).read() for n in sorted(os.listdir(tmp)) if n.startswith("job-"))
        bands = sorted(os.listdir(out)) if os.path.isdir(out) else []
        sub = r.returncode == 0 and bands == [f"img.band{k}of4.png" for k in range(4)]
        print(("ok   " if sub else "FAIL ") + f"sbatch --wait of the documented array script: 4 band files ({dt:.1f} s)")
        lines = re.findall(r"inrgan: shard (\d)/4 from Slurm", outs)
        shards_ok = sorted(lines) == ["0", "1", "2", "3"]
        print(("ok   " if shards_ok else "FAIL ") + "each task took its shard from Slurm's variables: " +
              ",".join(sorted(lines)))
        if not sub or not shards_ok:
            print(r.stdout + r.stderr + outs)
        stitched = os.path.join(tmp, "stitched.png")
        whole = os.path.join(tmp, "whole.png")
        rs = subprocess.run([cli, "stitch", stitched] + [os.path.join(out, b) for b in bands], capture_output=True,
                            text=True)
        rw = subprocess.run([cli, "render", "-m", MODEL, "--seeds", "5", "--size", "256x200", "--backend", "cpu", "-q",
                             "-o", whole], capture_output=True, text=True)
        same = (rs.returncode == 0 and rw.returncode == 0 and
                open(stitched, "rb").read() == open(whole, "rb").read())
        print(("ok   " if same else "FAIL ") + "the stitched bands == the single render, byte for byte")
        ok = up and sub and shards_ok and same
    finally:
        for p in reversed(procs):  # slurmd, slurmctld, munged: the ones this test started
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("all passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
