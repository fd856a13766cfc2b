"""numba kernels of the fast engine (float64 factors, int32 ids, float64 ratings; the exact and
parallel SVD kernels also run in float32: factors, biases, ratings and scalars all float32).

Three SGD flavours of Surprise's SVD epoch, one NMF epoch, a prediction kernel and a counting sort.
All kernels release the GIL (``nogil=True``: a fit in one Streamlit session thread never blocks
another session) and are compiled lazily and cached on disk (``cache=True``: ``__pycache__`` next
to this file).

* ``svd_epoch_bitwise``: Surprise's loop statement for statement (serial dot product, the same
  update expressions); results are bit-for-bit Surprise's.
* ``svd_epoch_exact``: the same updates in explicit vectors (``_sgd_rows``; ``VECTOR_BYTES``: 64,
  8 float64 or 16 float32 lanes, where numba compiles for AVX-512, else 32), the update
  ``p += lr*(err*q - reg*p)`` written as ``(1 - lr*reg)*p + (lr*err)*q`` (FMA-contracted) and the
  dot products re-associated. The next rating's dot product leaves the critical path: for the same
  user and another item i2, ``q_i2.p_new = (1 - lr*reg)*(q_i2.p) + (lr*err)*(q_i2.q_i)``, both dot
  products of the values before the update, accumulated in the update's pass, and the next error
  is one FMA on this one (``_svd_range``). Each step differs from Surprise by roundings (1e-16),
  the fitted factors by ~1e-14 after 20 epochs. Rows made of whole vectors starting on vector
  boundaries (``fast.py`` pads the factor rows of exact and parallel modes with zeros: they stay
  zero) are fastest: no vector load or store then straddles two cache lines.
* ``svd_epoch_blocks``: the "exact" step applied block by block, B blocks in parallel (prange) per
  stage; stage s runs blocks (b, (b + s) mod B), which share no user and no item, so there are no
  races and the result does not depend on thread timing (LIBMF-style blocking, deterministic).
  On the calling thread, ``svd_epoch_exact`` on the layout's slice of stages gives the same
  bits (blocks of a stage share no user or item, so running them one after another is the
  same; the stages are contiguous in the layout, and at a block's end the next block's first
  error reads nothing the block changed: tested). A kernel of its own for that, with the stage
  offsets as arguments, ran the same loop 2-5% slower on ml-100k (its own compiled code).
"""
from __future__ import annotations

import numpy as np
import numba
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

_FM = {"reassoc", "nsz", "contract"}


@intrinsic
def _prefetch(typingctx, arr, idx):
    """``llvm.prefetch`` of ``arr.ravel()[idx]`` (a hint: no effect on results)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        mod = builder.module
        fn = mod.globals.get("llvm.prefetch.p0i8") or ir.Function(mod, fnty, "llvm.prefetch.p0i8")
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


# ---------------------------------------------------------------------------------- SVD
@njit(cache=True, nogil=True)
def svd_epoch_bitwise(us, its, rs, pu, qi, bu, bi, global_mean, biased,
                      lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi):
    n_factors = pu.shape[1]
    for j in range(rs.shape[0]):
        u = us[j]
        i = its[j]
        r = rs[j]
        dot = 0.0
        for f in range(n_factors):
            dot += qi[i, f] * pu[u, f]
        err = r - (global_mean + bu[u] + bi[i] + dot)
        if biased:
            bu[u] += lr_bu * (err - reg_bu * bu[u])
            bi[i] += lr_bi * (err - reg_bi * bi[i])
        for f in range(n_factors):
            puf = pu[u, f]
            qif = qi[i, f]
            pu[u, f] += lr_pu * (err * qif - reg_pu * puf)
            qi[i, f] += lr_qi * (err * puf - reg_qi * qif)


_CONTRACT = ("contract", "reassoc", "nsz")  # fastmath flags of the vector arithmetic (_FM)


def _splat(builder, value, lanes):
    vt = ir.VectorType(value.type, lanes)
    v = builder.insert_element(ir.Constant(vt, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))


def _hsum(builder, v):
    """Sum of a vector's lanes (halves added pairwise)."""
    lanes = v.type.count
    while lanes > 1:
        h = lanes // 2
        lo, hi = (builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), h),
                                                           list(range(k, k + h))))
                  for k in (0, h))
        v = builder.fadd(lo, hi, flags=_CONTRACT)
        lanes = h
    return builder.extract_element(v, ir.Constant(ir.IntType(32), 0))


def _vector_bytes() -> int:
    """64 (an AVX-512 register, a cache line) when numba compiles for a CPU with AVX-512 (the
    host's features unless NUMBA_CPU_FEATURES says otherwise), else 32 (two SSE registers, one
    AVX one): on AVX2 CPUs, 64-byte vectors cost as much and pad k=100 float64 rows to 104."""
    features = numba.config.CPU_FEATURES
    if features is None:
        from llvmlite import binding

        features = binding.get_host_cpu_features().flatten()
    return 64 if "+avx512f" in features.split(",") else 32


#: bytes per vector of ``_sgd_rows`` (exact and parallel modes pad factor rows to a multiple
#: of it)
VECTOR_BYTES = _vector_bytes()


@intrinsic
def _sgd_rows(typingctx, pu, u, qi, i, i2, c_p, g_p, c_q, g_q):
    """One SGD step on rows of C-contiguous 2-D arrays of one float type, in place:
    ``p, q = c_p*p + g_p*q, c_q*q + g_q*p`` (p = pu[u], q = qi[i], old values on the right);
    returns ``(qi[i2].p, qi[i2].q)`` of the old values (qi[i2] only read; i2 == i is allowed).

    Explicit vectors of VECTOR_BYTES, two per loop iteration with two accumulators per dot
    product, then one vector of each narrower power-of-two width for the remainder (no scalar
    loop); LLVM splits vectors wider than the CPU's registers. Takes the 2-D arrays and row
    numbers, not row views: a view per rating costs NRT reference counts, atomic operations that
    stall the SGD loop."""
    if not (isinstance(pu, types.Array) and isinstance(qi, types.Array) and pu.ndim == 2
            and qi.ndim == 2 and pu.layout == "C" and qi.layout == "C" and pu.dtype == qi.dtype
            and isinstance(pu.dtype, types.Float)
            and all(isinstance(x, types.Integer) for x in (u, i, i2))):
        return None
    ft = pu.dtype
    sig = types.UniTuple(ft, 2)(pu, u, qi, i, i2, ft, ft, ft, ft)

    def codegen(context, builder, signature, args):
        pa, uv, qa, iv, i2v, c_pv, g_pv, c_qv, g_qv = args
        pu_ = context.make_array(signature.args[0])(context, builder, pa)
        qi_ = context.make_array(signature.args[2])(context, builder, qa)
        T = context.get_value_type(ft)
        size = context.get_abi_sizeof(T)
        W = VECTOR_BYTES // size
        n = builder.extract_value(pu_.shape, 1)
        intp = n.type

        def row(ary, idx, idx_type):
            idx = context.cast(builder, idx, idx_type, types.intp)
            return builder.gep(ary.data, [builder.mul(idx, n)])

        ptrs = (row(pu_, uv, signature.args[1]), row(qi_, iv, signature.args[3]),
                row(qi_, i2v, signature.args[4]))

        def step(off, lanes):
            vt = ir.VectorType(T, lanes)
            p_ptr, q_ptr, q2_ptr = (builder.bitcast(builder.gep(x, [off]), vt.as_pointer())
                                    for x in ptrs)
            p = builder.load(p_ptr, align=size)
            q = builder.load(q_ptr, align=size)
            q2 = builder.load(q2_ptr, align=size)
            mul = lambda c, x: builder.fmul(_splat(builder, c, lanes), x, flags=_CONTRACT)
            builder.store(builder.fadd(mul(c_pv, p), mul(g_pv, q), flags=_CONTRACT), p_ptr,
                          align=size)
            builder.store(builder.fadd(mul(c_qv, q), mul(g_qv, p), flags=_CONTRACT), q_ptr,
                          align=size)
            return (builder.fmul(q2, p, flags=_CONTRACT), builder.fmul(q2, q, flags=_CONTRACT))

        zero = ir.Constant(ir.VectorType(T, W), [ir.Constant(T, 0.0)] * W)
        acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(2)] for _ in range(2)]
        tail = [cgutils.alloca_once_value(builder, ir.Constant(T, 0.0)) for _ in range(2)]

        def add_to(slot, x):
            builder.store(builder.fadd(builder.load(slot), x, flags=_CONTRACT), slot)

        pairs = builder.udiv(n, intp(2 * W))
        with cgutils.for_range(builder, pairs) as loop:
            off = builder.mul(loop.index, intp(2 * W))
            for h in range(2):
                for k, prod in enumerate(step(builder.add(off, intp(h * W)), W)):
                    add_to(acc[k][h], prod)
        done = cgutils.alloca_once_value(builder, builder.mul(pairs, intp(2 * W)))
        lanes = W
        while lanes >= 1:  # the remainder (< 2W): at most one vector of each width
            off = builder.load(done)
            with builder.if_then(builder.icmp_signed(">=", builder.sub(n, off), intp(lanes))):
                for k, prod in enumerate(step(off, lanes)):
                    if lanes == W:
                        add_to(acc[k][0], prod)
                    else:
                        add_to(tail[k], _hsum(builder, prod))
                builder.store(builder.add(off, intp(lanes)), done)
            lanes //= 2
        out = [builder.fadd(_hsum(builder, builder.fadd(builder.load(acc[k][0]),
                                                        builder.load(acc[k][1]),
                                                        flags=_CONTRACT)),
                            builder.load(tail[k]), flags=_CONTRACT) for k in range(2)]
        return context.make_tuple(builder, signature.return_type, out)

    return sig, codegen


@njit(cache=True, nogil=True, fastmath=_FM)
def _row_dot(qi, i, pu, u):
    s = qi.dtype.type(0)
    for f in range(qi.shape[1]):
        s += qi[i, f] * pu[u, f]
    return s


@njit(cache=True, nogil=True, fastmath=_FM)
def _svd_range(us, its, rs, lo, hi, pu, qi, bu, bi, global_mean, biased,
               lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi):
    """Ratings lo..hi in order (``_sgd_rows`` per rating). When the next rating has the same
    user u and another item i2, its error comes from this one's by one FMA:
    ``err2 = r2 - (mu + b_u' + b_i2 + c_p*(q_i2.p_u) + lr_pu*err*(q_i2.q_i))`` with
    ``b_u' = b_u + lr_bu*(err - reg_bu*b_u)`` is ``rest - (lr_bu + lr_pu*(q_i2.q_i))*err``, every
    other term known before err: the chain from one rating to the next is that FMA (the vector
    work of consecutive ratings overlaps)."""
    if hi <= lo:
        return
    n_factors = pu.shape[1]
    # every scalar in the factors' type (float64: no-op; float32: no mixed-precision arithmetic)
    ft = pu.dtype.type
    c_p = ft(1.0 - lr_pu * reg_pu)
    c_q = ft(1.0 - lr_qi * reg_qi)
    global_mean = ft(global_mean)
    lr_bu, lr_bi, lr_pu, lr_qi = ft(lr_bu), ft(lr_bi), ft(lr_pu), ft(lr_qi)
    reg_bu, reg_bi = ft(reg_bu), ft(reg_bi)
    lr_b = lr_bu if biased else ft(0)  # how err moves b_u, in the next rating's error
    q_flat = qi.reshape(-1)
    u = us[lo]
    i = its[lo]
    err = rs[lo] - (global_mean + bu[u] + bi[i] + _row_dot(qi, i, pu, u))
    for j in range(lo, hi):
        u = us[j]
        i = its[j]
        if j + 2 < hi:  # the next item rows are random: fetch them early
            nxt = np.int64(its[j + 2]) * n_factors
            for off in range(0, n_factors, 8):
                _prefetch(q_flat, nxt + off)
        b_u = bu[u]
        if biased:
            bu[u] = b_u + lr_bu * (err - reg_bu * b_u)
            bi[i] += lr_bi * (err - reg_bi * bi[i])
        g_p = lr_pu * err
        g_q = lr_qi * err
        if j + 1 < hi:
            u2 = us[j + 1]
            i2 = its[j + 1]
        else:
            u2 = u
            i2 = i
        # another user and another item: this step changes nothing the next error reads, so it
        # is computed first, off the chain (at a user boundary; same values, same bits)
        apart = u2 != u and i2 != i
        if apart:
            err2 = rs[j + 1] - (global_mean + bu[u2] + bi[i2] + _row_dot(qi, i2, pu, u2))
        q2_p, q2_q = _sgd_rows(pu, u, qi, i, i2, c_p, g_p, c_q, g_q)
        if j + 1 == hi:
            break
        if u2 == u and i2 != i:
            rest = rs[j + 1] - (global_mean + bi[i2] + c_p * q2_p + (b_u - lr_b * reg_bu * b_u))
            err = rest - (lr_b + lr_pu * q2_q) * err
        elif apart:
            err = err2
        else:
            err = rs[j + 1] - (global_mean + bu[u2] + bi[i2] + _row_dot(qi, i2, pu, u2))


@njit(cache=True, nogil=True)
def svd_epoch_exact(us, its, rs, pu, qi, bu, bi, global_mean, biased,
                    lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi):
    _svd_range(us, its, rs, 0, rs.shape[0], pu, qi, bu, bi, global_mean, biased,
               lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi)


@njit(cache=True, nogil=True, parallel=True)
def svd_epoch_blocks(us, its, rs, starts, n_blocks, s_lo, s_hi, pu, qi, bu, bi, global_mean,
                     biased, lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi):
    """Stages s_lo..s_hi-1 of an epoch (a whole epoch: 0..n_blocks), stage s updating the blocks
    of user group b and item group (b + s) mod B, one a thread. Ratings laid out by
    ``block_layout``: that block is k = s * B + b, spanning starts[k]:starts[k+1]."""
    for s in range(s_lo, s_hi):
        for b in prange(n_blocks):
            k = s * n_blocks + b
            _svd_range(us, its, rs, starts[k], starts[k + 1], pu, qi, bu, bi, global_mean,
                       biased, lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi)


# ---------------------------------------------------------------------------------- NMF
@njit(cache=True, nogil=True)
def _nmf_range(us, its, rs, lo, hi, pu, qi, bu, bi, user_num, user_denom, item_num,
               item_denom, global_mean, biased, lr_bu, lr_bi, reg_bu, reg_bi):
    # Surprise's statements in Surprise's order; the four accumulations are split into
    # separate loops over row views (each array element sees the same additions in the same
    # order, so results are bitwise Surprise's) because that vectorises.
    n_factors = pu.shape[1]
    for j in range(lo, hi):
        u = us[j]
        i = its[j]
        r = rs[j]
        p = pu[u]
        q = qi[i]
        dot = 0.0
        for f in range(n_factors):
            dot += q[f] * p[f]
        est = global_mean + bu[u] + bi[i] + dot
        err = r - est
        if biased:
            bu[u] += lr_bu * (err - reg_bu * bu[u])
            bi[i] += lr_bi * (err - reg_bi * bi[i])
        un = user_num[u]
        ud = user_denom[u]
        inum = item_num[i]
        iden = item_denom[i]
        for f in range(n_factors):
            un[f] += q[f] * r
        for f in range(n_factors):
            ud[f] += q[f] * est
        for f in range(n_factors):
            inum[f] += p[f] * r
        for f in range(n_factors):
            iden[f] += p[f] * est


@njit(cache=True, nogil=True, error_model="numpy")
def _nmf_factor_update(x, num, denom, counts, reg, lo, hi):
    n_factors = x.shape[1]
    for u in range(lo, hi):
        n = np.float64(counts[u])
        for f in range(n_factors):
            if x[u, f] != 0:
                denom[u, f] += n * reg * x[u, f]
                x[u, f] *= num[u, f] / denom[u, f]


@njit(cache=True, nogil=True)
def nmf_epoch(us, its, rs, pu, qi, bu, bi, user_num, user_denom, item_num, item_denom,
              user_counts, item_counts, global_mean, biased, reg_pu, reg_qi, reg_bu, reg_bi,
              lr_bu, lr_bi):
    """One epoch of Surprise's NMF, statement for statement (bit-for-bit equal)."""
    user_num[:, :] = 0
    user_denom[:, :] = 0
    item_num[:, :] = 0
    item_denom[:, :] = 0
    _nmf_range(us, its, rs, 0, rs.shape[0], pu, qi, bu, bi, user_num, user_denom, item_num,
               item_denom, global_mean, biased, lr_bu, lr_bi, reg_bu, reg_bi)
    _nmf_factor_update(pu, user_num, user_denom, user_counts, reg_pu, 0, pu.shape[0])
    _nmf_factor_update(qi, item_num, item_denom, item_counts, reg_qi, 0, qi.shape[0])


@njit(cache=True, nogil=True, parallel=True)
def nmf_epoch_blocks(us, its, rs, starts, n_blocks, pu, qi, bu, bi, user_num, user_denom,
                     item_num, item_denom, user_counts, item_counts, global_mean, biased,
                     reg_pu, reg_qi, reg_bu, reg_bi, lr_bu, lr_bi):
    user_num[:, :] = 0
    user_denom[:, :] = 0
    item_num[:, :] = 0
    item_denom[:, :] = 0
    for s in range(n_blocks):
        for b in prange(n_blocks):
            k = s * n_blocks + b  # user group b, item group (b + s) mod B (see block_layout)
            _nmf_range(us, its, rs, starts[k], starts[k + 1], pu, qi, bu, bi, user_num,
                       user_denom, item_num, item_denom, global_mean, biased, lr_bu, lr_bi,
                       reg_bu, reg_bi)
    n_chunks = 64
    for c in prange(n_chunks):
        lo = pu.shape[0] * c // n_chunks
        hi = pu.shape[0] * (c + 1) // n_chunks
        _nmf_factor_update(pu, user_num, user_denom, user_counts, reg_pu, lo, hi)
    for c in prange(n_chunks):
        lo = qi.shape[0] * c // n_chunks
        hi = qi.shape[0] * (c + 1) // n_chunks
        _nmf_factor_update(qi, item_num, item_denom, item_counts, reg_qi, lo, hi)


@njit(cache=True, nogil=True)
def nmf_epoch_blocks_serial(us, its, rs, starts, n_blocks, pu, qi, bu, bi, user_num, user_denom,
                            item_num, item_denom, user_counts, item_counts, global_mean, biased,
                            reg_pu, reg_qi, reg_bu, reg_bi, lr_bu, lr_bi):
    """``nmf_epoch_blocks`` on the calling thread (the same bits, as for SVD)."""
    user_num[:, :] = 0
    user_denom[:, :] = 0
    item_num[:, :] = 0
    item_denom[:, :] = 0
    _nmf_range(us, its, rs, starts[0], starts[n_blocks * n_blocks], pu, qi, bu, bi, user_num,
               user_denom, item_num, item_denom, global_mean, biased, lr_bu, lr_bi, reg_bu,
               reg_bi)  # the stages in order, as one range (see svd_epoch_blocks)
    _nmf_factor_update(pu, user_num, user_denom, user_counts, reg_pu, 0, pu.shape[0])
    _nmf_factor_update(qi, item_num, item_denom, item_counts, reg_qi, 0, qi.shape[0])


# ---------------------------------------------------------------------------------- init
# Inverse of the standard normal CDF by P. J. Acklam's rational approximations ("An algorithm for
# computing the inverse normal cumulative distribution function", 2003; relative error below
# 1.15e-9 over (0, 1)): a central region |p - 0.5| <= 0.5 - P_LOW and two tails.
_A1, _A2, _A3 = -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02
_A4, _A5, _A6 = 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00
_B1, _B2, _B3 = -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02
_B4, _B5 = 6.680131188771972e+01, -1.328068155288572e+01
_C1, _C2, _C3 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00
_C4, _C5, _C6 = -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
_D1, _D2, _D3, _D4 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, \
    3.754408661907416e+00
P_LOW = 0.02425


@njit(cache=True, nogil=True, error_model="numpy")
def _icdf_tail(s):
    """Φ⁻¹(s) for 0 < s < P_LOW (the lower tail; the upper one is -Φ⁻¹(1 - p))."""
    t = np.sqrt(-2.0 * np.log(s))
    return (((((_C1 * t + _C2) * t + _C3) * t + _C4) * t + _C5) * t + _C6) / (
        (((_D1 * t + _D2) * t + _D3) * t + _D4) * t + 1.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _icdf_central(q):
    """Φ⁻¹(0.5 + q) for |q| <= 0.5 - P_LOW."""
    r = q * q
    return (((((_A1 * r + _A2) * r + _A3) * r + _A4) * r + _A5) * r + _A6) * q / (
        ((((_B1 * r + _B2) * r + _B3) * r + _B4) * r + _B5) * r + 1.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _normal_icdf(p):
    """Φ⁻¹(p) for p in (0, 1), Acklam's approximation (relative error < 1.15e-9)."""
    if p < P_LOW:
        return _icdf_tail(p)
    if p > 1.0 - P_LOW:
        return -_icdf_tail(1.0 - p)
    return _icdf_central(p - 0.5)


@njit(cache=True, nogil=True, error_model="numpy")
def normals_from_uniforms(u, out, mean, std):
    """out[j] = mean + std * Φ⁻¹(u[j] + 2⁻⁵⁴) for uniforms u in [0, 1) on the 2⁻⁵³ grid
    (numpy's ``Generator.random``: the half-step shift makes them symmetric in (0, 1); tails
    from exact distances to 0 and 1); out float32 or float64. Two passes: the central
    formula for every j without a branch (95% of them), then the tails (30% faster than one
    pass with the branch)."""
    ft = out.dtype.type
    half = 2.0 ** -54
    for j in range(u.shape[0]):
        out[j] = ft(mean + std * _icdf_central(u[j] + half - 0.5))
    for j in range(u.shape[0]):
        x = u[j]
        if x + half < P_LOW:
            out[j] = ft(mean + std * _icdf_tail(x + half))  # exact: x < 1/2
        elif x + half > 1.0 - P_LOW:
            out[j] = ft(mean - std * _icdf_tail((1.0 - x) - half))  # exact: x >= 1/2


# ---------------------------------------------------------------------------------- helpers
@njit(cache=True, nogil=True, parallel=True)
def predict(us, its, pu, qi, bu, bi, global_mean, user_known, item_known, biased,
            lo, hi, clip):
    """Surprise's ``predict`` for many pairs. Ids < 0 or not known are unknown.

    biased: mu (+ b_u if u known) (+ b_i if i known) (+ q_i.p_u if both known);
    unbiased: q_i.p_u if both known, else mu (Surprise's default_prediction). Then clip.
    """
    n = us.shape[0]
    out = np.empty(n, dtype=np.float64)
    n_factors = pu.shape[1]
    for j in prange(n):
        u = us[j]
        i = its[j]
        ku = u >= 0 and u < user_known.shape[0] and user_known[u]
        ki = i >= 0 and i < item_known.shape[0] and item_known[i]
        dot = 0.0
        if ku and ki:
            for f in range(n_factors):  # float64 products (float32 models too)
                dot += np.float64(qi[i, f]) * np.float64(pu[u, f])
        if biased:
            est = global_mean
            if ku:
                est += bu[u]
            if ki:
                est += bi[i]
            if ku and ki:
                est += dot
        elif ku and ki:
            est = dot
        else:
            est = global_mean
        if clip:
            est = min(hi, est)
            est = max(lo, est)
        out[j] = est
    return out


@njit(cache=True, nogil=True)
def stable_order(keys, n_keys):
    """Permutation sorting ``keys`` (ints in [0, n_keys)) stably, by counting sort; also the
    start offset of each key (length n_keys + 1)."""
    starts = np.zeros(n_keys + 1, dtype=np.int64)
    for j in range(keys.shape[0]):
        starts[keys[j] + 1] += 1
    for k in range(n_keys):
        starts[k + 1] += starts[k]
    pos = starts[:-1].copy()
    order = np.empty(keys.shape[0], dtype=np.int64)
    for j in range(keys.shape[0]):
        k = keys[j]
        order[pos[k]] = j
        pos[k] += 1
    return order, starts


@njit(cache=True, nogil=True)
def _chunk_bounds(n, n_chunks, t):
    return (n * t) // n_chunks, (n * (t + 1)) // n_chunks


@njit(cache=True, nogil=True)
def _group_of_fine(n_blocks, m):
    """Block user group of each fine user group f: f // m (a table, so that the passes over the
    ratings make no integer division: 4 ns a rating)."""
    gtab = np.empty(n_blocks * m, dtype=np.int32)
    for f in range(n_blocks * m):
        gtab[f] = f // m
    return gtab


@njit(cache=True, nogil=True, inline="always")
def _bucket(f, c, gtab, n_blocks, m):
    """Bucket of a rating of a user in fine group f and an item in group c: its block, stage by
    stage (the block of user group g = f // m and item group c is updated in stage s = (c - g)
    mod B; blocks are stored s * B + g, so a stage is one contiguous range), then the user's fine
    group in the block's user group. The passes read the callers' int32 group arrays directly
    (4 bytes a user: 1.5 MB at 384K users, in a core's L2; a packed int64 key a user was 3 MB,
    and its reads missed L2)."""
    d = c - gtab[f]
    if d < 0:
        d += n_blocks
    return d * n_blocks * m + f


@njit(cache=True, nogil=True)
def _count_buckets(us, its, user_fine, item_group, gtab, n_blocks, m, cnt, lo, hi):
    """cnt[k] += ratings lo..hi-1 in bucket k."""
    for j in range(lo, hi):
        cnt[_bucket(user_fine[us[j]], item_group[its[j]], gtab, n_blocks, m)] += 1


@njit(cache=True, nogil=True)
def _bucket_places(cnt):
    """Bucket offsets from the per-chunk bucket counts ``cnt[t, k]``; cnt becomes each chunk's
    first place in each bucket (chunk t after chunks 0..t-1: input order)."""
    n_chunks, nk = cnt.shape
    starts = np.zeros(nk + 1, dtype=np.int64)
    for k in range(nk):
        run = starts[k]
        for t in range(n_chunks):
            c = cnt[t, k]
            cnt[t, k] = run
            run += c
        starts[k + 1] = run
    return starts


@njit(cache=True, nogil=True)
def _scatter_buckets(us, its, rs, user_fine, item_group, gtab, n_blocks, m, place, lo, hi, tu, ti,
                     tr):
    """Writes ratings lo..hi-1 to their places by bucket (place[k]: this chunk's next place)."""
    for j in range(lo, hi):
        u = us[j]
        i = its[j]
        k = _bucket(user_fine[u], item_group[i], gtab, n_blocks, m)
        p = place[k]
        place[k] = p + 1
        tu[p] = u
        ti[p] = i
        tr[p] = rs[j]


@njit(cache=True, nogil=True)
def _sort_bucket_by_user(tu, ti, tr, user_fine, n_blocks, m, bstarts, k):
    """Bucket k of tu/ti/tr (in input order), stably by user, in place (through a copy of the
    bucket). A bucket's users are one fine group (a contiguous range of ids) and its ratings a
    few hundred KB, so the counters, the copy and the places written stay in cache."""
    f = k % (n_blocks * m)  # bucket k = (s * B + g) * m + (f - g * m)
    ulo = np.searchsorted(user_fine, f)
    uhi = np.searchsorted(user_fine, f, side="right")
    a = bstarts[k]
    b = bstarts[k + 1]
    su = tu[a:b].copy()
    si = ti[a:b].copy()
    sr = tr[a:b].copy()
    pos = np.zeros(uhi - ulo + 1, dtype=np.int64)
    for j in range(b - a):
        pos[su[j] - ulo + 1] += 1
    pos[0] = a
    for x in range(uhi - ulo):
        pos[x + 1] += pos[x]
    for j in range(b - a):
        u = su[j]
        p = pos[u - ulo]
        pos[u - ulo] = p + 1
        tu[p] = u
        ti[p] = si[j]
        tr[p] = sr[j]


@njit(cache=True, nogil=True, parallel=True)
def _block_layout_chunks(us, its, rs, user_fine, item_group, n_blocks, m, n_chunks):
    """``block_layout`` with ``n_chunks`` chunks; the passes run in parallel (see there)."""
    n = us.shape[0]
    nk = n_blocks * n_blocks * m
    gtab = _group_of_fine(n_blocks, m)
    cnt = np.zeros((n_chunks, nk), dtype=np.int64)
    for t in prange(n_chunks):
        lo, hi = _chunk_bounds(n, n_chunks, t)
        _count_buckets(us, its, user_fine, item_group, gtab, n_blocks, m, cnt[t], lo, hi)
    bstarts = _bucket_places(cnt)
    tu, ti, tr = np.empty_like(us), np.empty_like(its), np.empty_like(rs)
    for t in prange(n_chunks):
        lo, hi = _chunk_bounds(n, n_chunks, t)
        _scatter_buckets(us, its, rs, user_fine, item_group, gtab, n_blocks, m, cnt[t], lo, hi,
                         tu, ti, tr)
    for k in prange(nk):
        _sort_bucket_by_user(tu, ti, tr, user_fine, n_blocks, m, bstarts, k)
    return tu, ti, tr, bstarts[::m].copy()


def block_layout(us, its, rs, user_fine, item_group, n_blocks, m=1):
    """Ratings reordered by block, user by user inside each block (users ascending; each user's
    ratings in input order), and the block offsets. The block of user group ``ug =
    user_fine[u] // m`` and item group ``ig = item_group[i]`` is updated in stage ``s = (ig - ug)
    mod B``; blocks are stored stage by stage, ``k = s * n_blocks + ug`` spanning
    ``starts[k]:starts[k + 1]``, so stage s is ``starts[s * B]:starts[(s + 1) * B]``.
    ``user_fine`` must be non-decreasing in the user id (contiguous groups): ``n_blocks * m``
    fine user groups, ``m`` of them a block's user group.

    Two stable counting sorts, both parallel: by bucket (block, then fine user group; the
    ratings cut into one contiguous chunk per thread, each with its own counters and places,
    chunk t after chunks 0..t-1), then by user inside each bucket (buckets in parallel; a
    bucket's users are one fine group, so its counters and writes stay in cache: choose m so
    that a bucket holds ~32K ratings). Four passes over the ratings; the same result for any
    number of chunks and any m."""
    return _block_layout_chunks(us, its, rs, user_fine, item_group, n_blocks, m,
                                max(1, int(numba.get_num_threads())))


@njit(cache=True, nogil=True)
def block_layout_serial(us, its, rs, user_fine, item_group, n_blocks, m):
    """``block_layout`` on the calling thread (one chunk; the same result). A function of its
    own, not the parallel one compiled again: two dispatchers of one function share numba's
    cache entry, and the serial one then loaded the parallel code."""
    nk = n_blocks * n_blocks * m
    gtab = _group_of_fine(n_blocks, m)
    cnt = np.zeros((1, nk), dtype=np.int64)
    _count_buckets(us, its, user_fine, item_group, gtab, n_blocks, m, cnt[0], 0, us.shape[0])
    bstarts = _bucket_places(cnt)
    tu, ti, tr = np.empty_like(us), np.empty_like(its), np.empty_like(rs)
    _scatter_buckets(us, its, rs, user_fine, item_group, gtab, n_blocks, m, cnt[0], 0,
                     us.shape[0], tu, ti, tr)
    for k in range(nk):
        _sort_bucket_by_user(tu, ti, tr, user_fine, n_blocks, m, bstarts, k)
    return tu, ti, tr, bstarts[::m].copy()


@njit(cache=True, nogil=True)
def _count_range(ids, n, counts, lo, hi):
    """counts[id] += 1 for ids[lo:hi] inside [0, n); returns (smallest id, largest id).

    Adds each run of equal ids once, found by an inner loop: in a file sorted by item (Netflix's,
    by movie) or by user, a counter incremented rating after rating is a chain of store-to-load
    dependencies, and in a shuffled one (MovieLens' u.data) the inner loop ends at once, a
    well-predicted branch. Measured on one thread, 19M ids of 17,770 (``bench``-style script in
    the commit): sorted 15 ms, shuffled 33 ms; the earlier loop that carried the run in
    registers took 11 and 319 ms (its shuffled case stalled on every id), a plain
    ``counts[x] += 1`` 46 and 19 ms."""
    if hi <= lo:
        return 0, 0
    small = ids[lo]
    large = ids[lo]
    j = lo
    while j < hi:
        x = ids[j]
        k = j + 1
        while k < hi and ids[k] == x:
            k += 1
        if x >= 0 and x < n:
            counts[x] += k - j
        small = min(small, x)
        large = max(large, x)
        j = k
    return small, large


@njit(cache=True, nogil=True, parallel=True)
def id_counts_checked(ids, n, n_chunks):
    """``(counts, smallest, largest)``: how often each id in [0, n) occurs (int64, length n) and
    the range of all ids (ids outside [0, n) are not counted: the caller raises). One pass, the
    ids cut into ``n_chunks`` chunks counted in parallel, each with its own int32 counters
    (summed in chunk order: the same counts for any number of chunks; a chunk must hold fewer
    than 2**31 ids). int32 counters: 1.5 MB for 384K users fit a core's L2, int64 ones did not
    (38 against 26 ms for 19.2M user ids on 2 threads)."""
    m = ids.shape[0]
    part = np.zeros((n_chunks, n), dtype=np.int32)
    small = np.zeros(n_chunks, dtype=np.int64)
    large = np.zeros(n_chunks, dtype=np.int64)
    for t in prange(n_chunks):
        lo, hi = _chunk_bounds(m, n_chunks, t)
        if hi > lo:
            small[t], large[t] = _count_range(ids, n, part[t], lo, hi)
    counts = part[0].astype(np.int64)
    for t in range(1, n_chunks):
        counts += part[t]
    lo_all = small[0]
    hi_all = large[0]
    for t in range(1, n_chunks):
        lo2, hi2 = _chunk_bounds(m, n_chunks, t)
        if hi2 > lo2:
            lo_all = min(lo_all, small[t])
            hi_all = max(hi_all, large[t])
    return counts, lo_all, hi_all


@njit(cache=True, nogil=True)
def id_counts_checked_serial(ids, n):
    """``id_counts_checked`` on the calling thread (a function of its own: see
    ``block_layout_serial``)."""
    counts = np.zeros(n, dtype=np.int64)
    small, large = _count_range(ids, n, counts, 0, ids.shape[0])
    return counts, np.int64(small), np.int64(large)


@njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "contract"})
def _sum_range(rs, lo, hi):
    """Sum of rs[lo:hi] in float64 (vectorised: the order of additions is the compiler's)."""
    s = 0.0
    for j in range(lo, hi):
        s += np.float64(rs[j])
    return s


@njit(cache=True, nogil=True, parallel=True)
def ratings_sum(rs, n_chunks):
    """Sum of the ratings in float64, in one parallel pass: ``n_chunks`` chunk sums added in
    chunk order (for a given ``n_chunks``, the same value on any number of threads; not numpy's
    pairwise order). A NaN or an
    infinity among them makes it non-finite, so the caller checks finiteness on it and scans
    the values (``np.isfinite``) only then: one pass instead of two (``np.isfinite(...).all()``
    and ``np.mean`` took 13 + 14 ms for 19.2M float32 ratings)."""
    m = rs.shape[0]
    part = np.zeros(n_chunks, dtype=np.float64)
    for t in prange(n_chunks):
        lo, hi = _chunk_bounds(m, n_chunks, t)
        part[t] = _sum_range(rs, lo, hi)
    total = 0.0
    for t in range(n_chunks):
        total += part[t]
    return total


@njit(cache=True, nogil=True)
def ratings_sum_serial(rs, n_chunks):
    """``ratings_sum`` on the calling thread: the same chunks, so the same value (a function of
    its own: see ``block_layout_serial``)."""
    m = rs.shape[0]
    total = 0.0
    for t in range(n_chunks):
        lo, hi = _chunk_bounds(m, n_chunks, t)
        total += _sum_range(rs, lo, hi)
    return total


@njit(cache=True, nogil=True)
def is_sorted(keys):
    for j in range(1, keys.shape[0]):
        if keys[j] < keys[j - 1]:
            return False
    return True


# ---------------------------------------------------------------------------------- baseline
@njit(cache=True, nogil=True)
def baseline_sgd_epoch(us, its, rs, bu, bi, global_mean, lr, reg):
    """One epoch of Surprise's ``baseline_sgd`` (``surprise/prediction_algorithms/
    optimize_baselines.pyx``), statement for statement, ratings in the given order."""
    for j in range(rs.shape[0]):
        u = us[j]
        i = its[j]
        err = rs[j] - (global_mean + bu[u] + bi[i])
        bu[u] += lr * (err - reg * bu[u])
        bi[i] += lr * (err - reg * bi[i])
