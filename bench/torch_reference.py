#!/usr/bin/python3
"""PyTorch CPU reference throughput for the headsteer workloads, to compare the tfjs engine against.

Times one item per process and prints ONE JSON line to stdout (progress goes to stderr):
  vitTrain.reference / vitTrain.default  gated-ViT training step (forward, backward, AdamW), images/s
  vitInfer.reference / vitInfer.default  eval-mode gated forward under no_grad, images/s
  saeTrain                               top-k SAE training step (Adam, decoder renorm), samples/s
  paperScale.train / paperScale.infer    the gated ViT-S/16 at 224x224x3, batch 32, in one pass (PyTorch
                                         has no 4 GiB heap)
  vitTrainDP.default                     vitTrain.default as data-parallel training: `--world` processes
                                         (DistributedDataParallel over gloo), each with 1 torch thread, 1
                                         OpenBLAS thread and an equal share of the batch; images/s as whole
                                         batches over the wall time of the timed steps
A timed run (`--threads T --blas-threads B`): batch / median step time over at least `--reps` steps and
`--min-seconds` after `--warmup`,
with the thread counts it ran at, the load average before and after, and the process's peak RSS.
`--calibrate` times the item at each setting of THREADS in one process (torch 1 and 2 threads with OpenBLAS
at its own count, and torch 2 + OpenBLAS 1, since torch's OpenMP threads and OpenBLAS's pthreads
oversubscribe 2 cores), the settings taking turns step by step, and names the fastest; bench/run.ts pins
that setting for the item's timed rounds.

The gated ViT is the recipe of docs/design.md ("The model"): timm-style pre-LN ViT (LayerNorm eps 1e-6,
exact GELU, fused qkv with bias), one AdaViT decision network per layer (LayerNorm + Linear(D, H) on the CLS
token of the block's residual input), training mask m = 1[sigmoid((a + g1 - g2) / 5) > 0.5] with a
straight-through gradient of the sigmoid, head outputs times m before the output projection, loss =
cross-entropy + 2 * |mean(m) - 0.7|. Evaluation mask: m = 1[sigmoid(a) > 0.5].

Usage: /usr/bin/python3 bench/torch_reference.py --item vitTrain.reference [--calibrate | --threads 1 --blas-threads 2]
Needs Debian's python3-torch; with OpenBLAS (libopenblas0-pthread) as libblas.so.3, not the reference BLAS.
Other OPENBLAS_* variables of the environment are left as they are.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print(json.dumps({'error': 'PyTorch not installed: sudo apt-get install python3-torch libopenblas0-pthread'}))
    sys.exit(0)

# (torch threads, OpenBLAS threads); None = leave OpenBLAS at its own default (all cores, pthreads)
THREADS = ((1, None), (2, None), (2, 1))

CONFIGS = {
    # 32x32x3, 4x4 patches (64 + CLS tokens), width 192, 6 layers, 6 heads, MLP 768, 100 classes
    'reference': dict(img=32, patch=4, chans=3, dim=192, depth=6, heads=6, mlp=768, classes=100, train_batch=64, infer_batch=64),
    # headsteer `default` preset: 28x28x1, patch 7 (16 + CLS tokens), width 96, depth 6, heads 6, MLP ratio 4
    'default': dict(img=28, patch=7, chans=1, dim=96, depth=6, heads=6, mlp=384, classes=10, train_batch=128, infer_batch=500),
}
SAE = dict(d=384, n=3072, k=64, batch=4096)
# The paper's ViT-S/16 at 224 px (196 + CLS tokens), 100 classes (CIFAR-100), batch 32
PAPER = dict(img=224, patch=16, chans=3, dim=384, depth=12, heads=6, mlp=1536, classes=100, train_batch=32, infer_batch=32)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- gated ViT


class GatedBlock(nn.Module):
    def __init__(self, dim, heads, mlp, tau=5.0):
        super().__init__()
        self.heads, self.dh, self.tau = heads, dim // heads, tau
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)
        # AdaViT decision network
        self.gate_norm = nn.LayerNorm(dim, eps=1e-6)
        self.gate = nn.Linear(dim, heads)
        nn.init.constant_(self.gate.bias, 2.0)

    def mask(self, x):
        a = self.gate(self.gate_norm(x[:, 0]))  # (B, H)
        if self.training:
            u1 = torch.rand_like(a).clamp_(1e-10, 1 - 1e-10)
            u2 = torch.rand_like(a).clamp_(1e-10, 1 - 1e-10)
            g1, g2 = -torch.log(-torch.log(u1)), -torch.log(-torch.log(u2))
            s = torch.sigmoid((a + g1 - g2) / self.tau)
            hard = (s > 0.5).to(s.dtype)
            return hard - s.detach() + s  # straight-through
        return (torch.sigmoid(a) > 0.5).to(a.dtype)

    def forward(self, x):
        B, N, D = x.shape
        m = self.mask(x)
        h = self.norm1(x)
        qkv = self.qkv(h).reshape(B, N, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * self.dh ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        o = (attn @ v) * m[:, :, None, None]  # (B, H, N, Dh), head i times m_i
        x = x + self.proj(o.transpose(1, 2).reshape(B, N, D))
        x = x + self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return x, m


class GatedViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = (c['img'] // c['patch']) ** 2 + 1
        self.patch = nn.Conv2d(c['chans'], c['dim'], c['patch'], stride=c['patch'])
        self.cls = nn.Parameter(torch.randn(1, 1, c['dim']) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, n, c['dim']) * 0.02)
        self.blocks = nn.ModuleList(GatedBlock(c['dim'], c['heads'], c['mlp']) for _ in range(c['depth']))
        self.norm = nn.LayerNorm(c['dim'], eps=1e-6)
        self.head = nn.Linear(c['dim'], c['classes'])

    def forward(self, images):
        x = self.patch(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        masks = []
        for b in self.blocks:
            x, m = b(x)
            masks.append(m)
        return self.head(self.norm(x)[:, 0]), torch.stack(masks, 1)  # logits, (B, L, H)


def vit_train_step_fn(c, wrap=lambda model: model):
    """A training step of the gated ViT of config `c` on one fixed random batch; `wrap` may wrap the model
    (vitTrainDP: in DistributedDataParallel)."""
    model = wrap(GatedViT(c).train())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    B = c['train_batch']
    x = torch.rand(B, c['chans'], c['img'], c['img'])
    y = torch.randint(0, c['classes'], (B,))

    def step():
        logits, m = model(x)
        loss = F.cross_entropy(logits, y) + 2.0 * (m.mean() - 0.7).abs()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    return step, B


def vit_infer_fn(c):
    model = GatedViT(c).eval()
    B = c['infer_batch']
    x = torch.rand(B, c['chans'], c['img'], c['img'])

    def step():
        with torch.no_grad():
            logits, m = model(x)
        return float(logits[0, 0])

    return step, B


# ---------------------------------------------------------------- top-k SAE


def sae_train_fn():
    d, n, k, B = SAE['d'], SAE['n'], SAE['k'], SAE['batch']
    g = torch.Generator().manual_seed(0)
    data = torch.randn(B, d, generator=g)
    W_dec = torch.randn(d, n, generator=g)
    W_dec /= W_dec.norm(dim=0, keepdim=True)
    W_dec = nn.Parameter(W_dec)  # (d, n), unit-norm columns
    W_enc = nn.Parameter(W_dec.detach().t().clone())  # (n, d)
    b_enc = nn.Parameter(torch.zeros(n))
    b_dec = nn.Parameter(data.mean(0))
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=1e-4)

    def step():
        pre = (data - b_dec) @ W_enc.t() + b_enc  # (B, n)
        vals, idx = pre.topk(k, dim=1)
        z = torch.zeros_like(pre).scatter(1, idx, F.relu(vals))  # gradient only to the k kept entries
        x_hat = z @ W_dec.t() + b_dec
        loss = F.mse_loss(x_hat, data)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            # remove the gradient component parallel to each (unit) decoder column, step, renormalise
            W_dec.grad -= W_dec * (W_dec * W_dec.grad).sum(0, keepdim=True)
        opt.step()
        with torch.no_grad():
            W_dec.div_(W_dec.norm(dim=0, keepdim=True))
        return float(loss)

    return step, B


# ---------------------------------------------------------------- timing


_OPENBLAS = {}


def openblas_lib():
    """ctypes handle of the OpenBLAS that torch loaded (via libblas.so.3), or None."""
    if 'lib' not in _OPENBLAS:
        _OPENBLAS['lib'] = None
        for p in loaded_blas_libraries():
            if 'openblas' in p:
                try:
                    import ctypes
                    lib = ctypes.CDLL(p)
                    lib.openblas_get_config.restype = ctypes.c_char_p
                    lib.openblas_get_num_threads()
                    _OPENBLAS['lib'] = lib
                    _OPENBLAS['default'] = lib.openblas_get_num_threads()
                    break
                except (OSError, AttributeError):
                    pass
    return _OPENBLAS['lib']


def loaded_blas_libraries():
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split()
                p = parts[-1] if parts else ''
                if p.startswith('/') and ('blas' in p.lower() or 'mkl' in p.lower()):
                    libs.add(p)
    except OSError:
        pass
    return sorted(libs)


def use_threads(threads, blas_threads):
    """Run torch's ops on `threads` OpenMP threads and OpenBLAS's on `blas_threads` (when torch is on OpenBLAS)."""
    torch.set_num_threads(threads)
    lib = openblas_lib()
    if lib is not None and blas_threads is not None:
        lib.openblas_set_num_threads(blas_threads)


def timed(step):
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def summary(times, batch, warmup, threads, blas_threads):
    med = statistics.median(times)
    return {'perSec': round(batch / med, 2), 'medianStepMs': round(med * 1000, 2), 'batch': batch, 'reps': len(times), 'warmup': warmup,
            'minStepMs': round(min(times) * 1000, 2), 'maxStepMs': round(max(times) * 1000, 2),
            'torchThreads': threads, 'blasThreads': blas_threads if openblas_lib() is not None else None}


def time_item(make, threads, blas_threads, warmup, reps, min_seconds):
    """Batch / median step time of `make`'s step at `threads` torch threads and `blas_threads` OpenBLAS threads,
    over at least `reps` timed steps and as many more as fill `min_seconds`, after `warmup` untimed ones."""
    use_threads(threads, blas_threads)
    torch.manual_seed(0)
    step, batch = make()
    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < reps or time.perf_counter() - start < min_seconds:
        times.append(timed(step))
    return summary(times, batch, warmup, threads, blas_threads)


def blas_info():
    cfg = torch.__config__.show()
    build = next((l.strip() for l in cfg.splitlines() if 'BLAS_INFO' in l), '')
    libs = loaded_blas_libraries()
    info = {
        'buildBlasInfo': next((p.split('=', 1)[1] for p in build.split(', ') if 'BLAS_INFO=' in p), 'unknown'),
        'configLine': next((l.strip() for l in cfg.splitlines() if 'LAPACK is enabled' in l), None),
        'loadedBlasLibraries': libs,
    }
    lib = openblas_lib()
    if lib is not None:
        info['openblasConfig'] = lib.openblas_get_config().decode()
        info['openblasDefaultThreads'] = _OPENBLAS['default']
    elif any('libblas.so' in p for p in libs):
        info['warning'] = 'reference BLAS in use (slow, ~4 images/s on vitTrain.reference); install libopenblas0-pthread'
    info['env'] = {k: v for k, v in os.environ.items() if k.startswith(('OPENBLAS_', 'OMP_', 'MKL_', 'GOTO'))}
    return info


ITEMS = {
    'vitTrain.reference': lambda: vit_train_step_fn(CONFIGS['reference']),
    'vitTrain.default': lambda: vit_train_step_fn(CONFIGS['default']),
    'vitInfer.reference': lambda: vit_infer_fn(CONFIGS['reference']),
    'vitInfer.default': lambda: vit_infer_fn(CONFIGS['default']),
    'saeTrain': sae_train_fn,
    'paperScale.train': lambda: vit_train_step_fn(PAPER),
    'paperScale.infer': lambda: vit_infer_fn(PAPER),
}


def dp_worker(rank, world, init_file, steps, result_file):
    """One DistributedDataParallel process of vitTrainDP: its share of vitTrain.default's batch, the same
    model on every rank (seed 0); rank 0 writes the summary to `result_file`."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    warmup, reps, min_seconds = steps
    use_threads(1, 1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    c = dict(CONFIGS['default'], train_batch=CONFIGS['default']['train_batch'] // world)
    torch.manual_seed(0)
    step, _ = vit_train_step_fn(c, wrap=DistributedDataParallel)
    for _ in range(warmup):
        step()
    # Like headsteer's training loop, the figure is whole steps over the whole time, waits included.
    dist.barrier()
    times = []
    start = time.perf_counter()
    while True:
        times.append(timed(step))
        done = torch.tensor([float(len(times) >= reps and time.perf_counter() - start >= min_seconds)])
        dist.all_reduce(done, op=dist.ReduceOp.MIN)  # every rank stops after the same step
        if done.item() == 1.0:
            break
    elapsed = time.perf_counter() - start
    if rank == 0:
        out = summary(times, CONFIGS['default']['train_batch'], warmup, 1, 1)
        out.update(perSec=round(len(times) * CONFIGS['default']['train_batch'] / elapsed, 2), world=world,
                   peakRssMB=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
        with open(result_file, 'w') as f:
            json.dump(out, f)
    dist.destroy_process_group()


def time_dp(world, warmup, reps, min_seconds):
    """vitTrainDP: `world` DistributedDataParallel processes (torch.multiprocessing), rank 0's figures."""
    import tempfile
    import torch.multiprocessing as mp
    os.environ['OPENBLAS_NUM_THREADS'] = '1'  # read by each spawned process's OpenBLAS as it loads
    os.environ['OMP_NUM_THREADS'] = '1'
    with tempfile.TemporaryDirectory(prefix='torch-dp-') as tmp:
        result = os.path.join(tmp, 'result.json')
        mp.spawn(dp_worker, args=(world, os.path.join(tmp, 'init'), (warmup, reps, min_seconds), result), nprocs=world)
        with open(result) as f:
            return json.load(f)


def calibrate(item, warmup, reps, min_seconds):
    """Time `item` at each setting of THREADS in this one process, the settings taking turns step by step (so
    that a change in the machine's load hits all of them alike): at least `reps` steps and `min_seconds` each.
    Returns the fastest setting by median step time, with every setting's figures."""
    default_blas = openblas_default_threads()
    settings = {f'torch{th}' + (f'-blas{bth}' if bth is not None else ''): (th, bth if bth is not None else default_blas)
                for th, bth in THREADS if bth is None or openblas_lib() is not None}
    steps, batch = {}, None
    for key, threads in settings.items():
        use_threads(*threads)
        torch.manual_seed(0)
        steps[key], batch = ITEMS[item]()
        for _ in range(warmup):
            steps[key]()
    times = {key: [] for key in settings}
    start = time.perf_counter()
    while min(len(t) for t in times.values()) < reps or time.perf_counter() - start < min_seconds * len(settings):
        for key, step in steps.items():
            use_threads(*settings[key])
            times[key].append(timed(step))
    by = {key: summary(times[key], batch, warmup, *settings[key]) for key in settings}
    for key, r in by.items():
        log(f'{item} {key}: {r["perSec"]} /s (median step {r["medianStepMs"]} ms)')
    best = by[max(by, key=lambda k: by[k]['perSec'])]
    return {'best': {'torchThreads': best['torchThreads'], 'blasThreads': best['blasThreads']}, 'byThreads': by, 'blas': blas_info()}


def openblas_default_threads():
    """OpenBLAS's own thread count (OPENBLAS_NUM_THREADS, else all cores), or None without OpenBLAS."""
    return _OPENBLAS.get('default') if openblas_lib() is not None else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--item', required=True, choices=sorted([*ITEMS, 'vitTrainDP.default']), help='the workload to time')
    ap.add_argument('--world', type=int, default=2, help='vitTrainDP: data-parallel processes')
    ap.add_argument('--calibrate', action='store_true', help='try each thread setting of THREADS and report the fastest')
    ap.add_argument('--threads', type=int, default=1, help='torch (OpenMP) threads for a timed run')
    ap.add_argument('--blas-threads', type=int, help="OpenBLAS threads for a timed run (default: OpenBLAS's own)")
    ap.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    ap.add_argument('--reps', type=int, default=5, help='timed steps at least (their median is reported)')
    ap.add_argument('--min-seconds', type=float, default=0.0, help='time more steps until this many seconds are filled')
    args = ap.parse_args()
    torch.set_num_interop_threads(1)
    load_before = os.getloadavg()[0]
    if args.item == 'vitTrainDP.default':
        out = time_dp(args.world, args.warmup, args.reps, args.min_seconds)
    elif args.calibrate:
        out = calibrate(args.item, args.warmup, args.reps, args.min_seconds)
    else:
        blas = args.blas_threads if args.blas_threads is not None else openblas_default_threads()
        out = time_item(ITEMS[args.item], args.threads, blas, args.warmup, args.reps, args.min_seconds)
    out.update(item=args.item, unit='samples/s' if args.item == 'saeTrain' else 'images/s', torch=torch.__version__,
               loadAvg=[load_before, os.getloadavg()[0]],
               peakRssMB=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
