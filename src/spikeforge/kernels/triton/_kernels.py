"""Triton source of the fused ``"lif"`` kernels (executed by ``lif._build``, never imported).

This file is run as a fresh module object each time the builder needs a set of kernels
(once per process and per ``TRITON_INTERPRET`` mode), because ``@triton.jit`` decides at
decoration time whether it makes a compiled or an interpreted kernel. The kernels and
their helpers are module-level functions on purpose: the interpreter re-executes a
kernel's source against the module's globals, so closures (kernels defined inside a
builder function) would lose their helpers.

Layout: ``x``, spikes, ``H`` and ``dL/dx`` are ``[T, N]`` row-major (N = every neuron of
the batch); each program owns ``BLOCK`` contiguous neurons and walks all T steps with
their state in registers. Arithmetic is in the compute dtype (float32 for float16 /
bfloat16 / float32 inputs, float64 for float64): the dtype of the constants tensor
``c_ptr`` = ``[v_reset, a, b, c0, c1, inv_tau, v_th]``, read in the kernels as
``vr.dtype``, which the host fills in float64 and rounds once (a python float used in a
kernel would become a float32 constant and lose float64 precision).

Codes (constexpr): CHARGE 0 = IF, 1 = LIF decay_input, 2 = LIF without input decay;
RESET 0 = hard ("zero"), 1 = "subtract", 2 = "none"; SID 0 atan, 1 sigmoid,
2 fast_sigmoid, 3 triangle, 4 rectangle, 5 piecewise_linear.
"""

import triton
import triton.language as tl


@triton.jit
def _charge(v, x, k, vr, CHARGE: tl.constexpr):
    """``H[t]`` from ``V[t-1]`` and ``X[t]``, in the reference's operation order (so the
    same rounding, and bit-identical spikes when fp contraction is off)."""
    if CHARGE == 0:
        h = v + x
    elif CHARGE == 1:
        h = v + (x - (v - vr)) * k
    else:
        h = v - (v - vr) * k + x
    return h


@triton.jit
def _reset(h, fire, th, vr, RESET: tl.constexpr):
    """``V[t]`` from ``H[t]`` and its spike: ``h - (h - vr) s``, ``h - th s`` or ``h``."""
    if RESET == 0:
        v = tl.where(fire, h - (h - vr), h)
    elif RESET == 1:
        v = tl.where(fire, h - th, h)
    else:
        v = h
    return v


@triton.jit
def _surrogate_grad(u, a, b, c0, c1, SID: tl.constexpr):
    """σ'(u) for ``u = H - V_th``; ``a`` = alpha, ``b`` = gamma / leak, ``c0``, ``c1``
    precomputed by the host in float64 (see ``lif._constants``)."""
    if SID == 0:  # atan: a / (2 (1 + (c0 u)^2)), c0 = pi a / 2
        z = c0 * u
        d = a / (2.0 * (1.0 + z * z))
    elif SID == 1:  # sigmoid: a s (1 - s), s = 1 / (1 + exp(-a u))
        s = 1.0 / (1.0 + tl.exp(-(a * u)))
        d = a * s * (1.0 - s)
    elif SID == 2:  # fast sigmoid: 1 / (1 + a |u|)^2
        z = 1.0 + a * tl.abs(u)
        d = 1.0 / (z * z)
    elif SID == 3:  # triangle: b max(0, 1 - a |u|)
        z = 1.0 - a * tl.abs(u)
        d = b * tl.maximum(z, 0.0)
    elif SID == 4:  # rectangle: a on |u| < c1 = 0.5 / a
        d = tl.where(tl.abs(u) < c1, a, 0.0)
    else:  # piecewise linear: c0 = a / 2 on |u| < c1 = 1 / a, b (the leak) outside
        d = tl.where(tl.abs(u) < c1, c0, b)
    return d


@triton.jit
def _reset_backward(g, gsum, h, th, fl, sg, vr, RESET: tl.constexpr, DETACH: tl.constexpr):
    """Through ``V = reset(H, S)`` for carried ``g = dL/dV``: ``dL/dS`` gains ``g dV/dS``
    (unless the reset is detached); returns ``(dL/dH, dL/dS σ')`` with ``fl`` the spike,
    ``sg = σ'(H - th)``."""
    if RESET == 0:
        gh = g * (1.0 - fl)
        if not DETACH:
            gsum = gsum - g * (h - vr)
    elif RESET == 1:
        gh = g
        if not DETACH:
            gsum = gsum - g * th
    else:
        gh = g
    gsg = gsum * sg
    return gh + gsg, gsg


@triton.jit
def _param(ptr, offs, mask, like, VEC: tl.constexpr):
    """A parameter in ``like``'s (compute) dtype: one value per neuron (``VEC``) or one
    value for all, loaded once outside the time loop."""
    if VEC:
        value = tl.load(ptr + offs, mask=mask, other=1.0).to(like.dtype)
    else:
        value = tl.load(ptr).to(like.dtype)
    return value


@triton.jit(do_not_specialize=["T"])  # T == 1 would become a constexpr (no .to)
def lif_forward(
    x_ptr,  # [T, N] input current
    v0_ptr,  # [N] initial membrane
    k_ptr,  # inv_tau: [N] (K_VEC) or one value
    th_ptr,  # v_th: [N] (TH_VEC) or one value
    c_ptr,  # [7] constants in the compute dtype
    s_ptr,  # [T, N] spikes out
    v_ptr,  # [N] final membrane out
    T,
    N,
    CHARGE: tl.constexpr,
    RESET: tl.constexpr,
    K_VEC: tl.constexpr,
    TH_VEC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Charge, fire, reset over all T steps for one block of neurons."""
    pid = tl.program_id(0)
    # int64 offsets: T * N may exceed 2^31 even when N does not (rows advance by N)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    vr = tl.load(c_ptr)  # constants: [v_reset, a, b, c0, c1, inv_tau, v_th]
    k = _param(k_ptr, offs, mask, vr, K_VEC)
    th = _param(th_ptr, offs, mask, vr, TH_VEC)
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0).to(vr.dtype)
    xp = x_ptr + offs
    sp = s_ptr + offs
    for _ in range(0, T):
        x = tl.load(xp, mask=mask, other=0.0).to(vr.dtype)
        h = _charge(v, x, k, vr, CHARGE)
        # the reference's Θ(H - V_th), not H >= V_th: identical for IEEE numbers, and the
        # same expression if the hardware flushes subnormal differences
        fire = (h - th) >= 0.0
        # via the compute dtype: the interpreter cannot cast int1 to bfloat16 directly
        tl.store(sp, fire.to(vr.dtype).to(s_ptr.dtype.element_ty), mask=mask)
        v = _reset(h, fire, th, vr, RESET)
        xp += N
        sp += N
    tl.store(v_ptr + offs, v.to(v_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["T"])
def lif_backward(
    x_ptr,  # [T, N] input (read only for dL/d inv_tau with CHARGE == 1)
    v0_ptr,  # [N] initial membrane (read only for dL/d inv_tau)
    h_ptr,  # [T, N] compute-dtype scratch: this kernel recomputes H into it first
    gs_ptr,  # [T, N] dL/dS (HAS_GS)
    gvt_ptr,  # [N] dL/dV[T-1] (HAS_GV)
    k_ptr,
    th_ptr,
    c_ptr,
    gx_ptr,  # [T, N] dL/dx out
    gv0_ptr,  # [N] dL/dv0 out
    gk_ptr,  # [N] compute-dtype dL/d inv_tau per neuron out (WANT_K)
    gth_ptr,  # [N] compute-dtype dL/d v_th per neuron out (WANT_TH)
    T,
    N,
    CHARGE: tl.constexpr,
    RESET: tl.constexpr,
    DETACH: tl.constexpr,
    SID: tl.constexpr,
    K_VEC: tl.constexpr,
    TH_VEC: tl.constexpr,
    HAS_GS: tl.constexpr,
    HAS_GV: tl.constexpr,
    WANT_K: tl.constexpr,
    WANT_TH: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Recompute ``H`` of one block of neurons forwards (as :func:`lif_forward`), then
    one reverse pass over T: one launch, and each program reads back only the rows it
    wrote itself (so no other program has to finish first).

    With ``g = dL/dV[t]`` carried backwards: ``S = Θ(H - V_th)``,
    ``dL/dS[t] = gs[t] + g dV/dS``, ``dL/dH[t] = g dV/dH + dL/dS[t] σ'(H - V_th)``,
    then ``dL/dx[t]`` and ``dL/dV[t-1]`` from the charge equation.
    """
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    vr = tl.load(c_ptr)
    a = tl.load(c_ptr + 1)
    b = tl.load(c_ptr + 2)
    c0 = tl.load(c_ptr + 3)
    c1 = tl.load(c_ptr + 4)
    k = _param(k_ptr, offs, mask, vr, K_VEC)
    th = _param(th_ptr, offs, mask, vr, TH_VEC)
    # tl.full, not tl.zeros: tl.zeros is itself a @triton.jit function, made compiled or
    # interpreted when triton was imported, so it breaks the interpreter if triton was
    # imported before TRITON_INTERPRET was set (every other tl function here is a builtin)
    zero = tl.full([BLOCK], 0.0, vr.dtype)
    g = tl.load(gvt_ptr + offs, mask=mask, other=0.0).to(vr.dtype) if HAS_GV else zero
    ak = zero
    at = zero
    v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0).to(vr.dtype)
    # forward: H[0..T-1] into the scratch rows of this block, the forward's arithmetic
    v = v0
    hp = h_ptr + offs
    xp = x_ptr + offs
    h = zero
    for _ in range(0, T):
        x = tl.load(xp, mask=mask, other=0.0).to(vr.dtype)
        h = _charge(v, x, k, vr, CHARGE)
        tl.store(hp, h, mask=mask)
        v = _reset(h, (h - th) >= 0.0, th, vr, RESET)
        hp += N
        xp += N
    tl.debug_barrier()  # the scratch rows are written before the reverse pass reads them
    # reverse: h already holds H[T-1]
    last = (T - 1).to(tl.int64) * N
    hp = h_ptr + last + offs
    gsp = gs_ptr + last + offs
    gxp = gx_ptr + last + offs
    xp = x_ptr + last + offs
    for i in range(0, T):
        # H[t-1] (t = T-1-i), needed next iteration anyway; masked off at t = 0, where
        # the row would lie before the buffer. (offs < 0 rather than mask & has_prev: the
        # interpreter turns a block & scalar of booleans into int32, an invalid mask)
        has_prev = i < T - 1
        h_prev = tl.load(hp - N, mask=offs < tl.where(has_prev, N, 0), other=0.0)
        u = h - th
        fl = (u >= 0.0).to(vr.dtype)
        sg = _surrogate_grad(u, a, b, c0, c1, SID)
        gsum = tl.load(gsp, mask=mask, other=0.0).to(vr.dtype) if HAS_GS else zero
        gh, gsg = _reset_backward(g, gsum, h, th, fl, sg, vr, RESET, DETACH)
        if WANT_TH:
            # dS/dV_th = -σ', and the subtract reset's V = H - V_th S
            at = at - (gsg + g * fl) if RESET == 1 else at - gsg
        if WANT_K:
            # dH/dk = X - (V[t-1] - V_reset) (decay_input) or -(V[t-1] - V_reset)
            v_prev = _reset(h_prev, (h_prev - th) >= 0.0, th, vr, RESET)
            v_prev = tl.where(has_prev, v_prev, v0)
            if CHARGE == 1:
                x = tl.load(xp, mask=mask, other=0.0).to(vr.dtype)
                ak = ak + gh * (x - (v_prev - vr))
            else:
                ak = ak - gh * (v_prev - vr)
        gx = gh * k if CHARGE == 1 else gh
        tl.store(gxp, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        g = gh if CHARGE == 0 else gh * (1.0 - k)
        h = h_prev
        hp -= N
        gsp -= N
        gxp -= N
        xp -= N
    tl.store(gv0_ptr + offs, g.to(gv0_ptr.dtype.element_ty), mask=mask)
    if WANT_K:
        tl.store(gk_ptr + offs, ak, mask=mask)
    if WANT_TH:
        tl.store(gth_ptr + offs, at, mask=mask)


# ----------------------------------------------- first-order linear scans ("leaky" family)
# y[t] = f(y[t-1], x[t]) with FORM 0: y + x; 1: y + (x - (y - r)) c; 2: y - (y - r) c + x;
# 3: c y + x (see spikeforge.functional.leaky). Constants c_ptr = [rest, coef] in the
# compute dtype; the whole trajectory is the output.


@triton.jit
def _leak(y, x, c, r, FORM: tl.constexpr):
    if FORM == 0:
        out = y + x
    elif FORM == 1:
        out = y + (x - (y - r)) * c
    elif FORM == 2:
        out = y - (y - r) * c + x
    else:
        out = c * y + x
    return out


@triton.jit(do_not_specialize=["T"])
def leaky_forward(
    x_ptr,  # [T, N] input
    y0_ptr,  # [N] initial state
    coef_ptr,  # [N] (C_VEC) or one value
    c_ptr,  # [2] constants: rest, coef
    y_ptr,  # [T, N] trajectory out
    ylast_ptr,  # [N] final state out
    T,
    N,
    FORM: tl.constexpr,
    C_VEC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """The scan over all T steps for one block of neurons."""
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    r = tl.load(c_ptr)
    c = _param(coef_ptr, offs, mask, r, C_VEC)
    y = tl.load(y0_ptr + offs, mask=mask, other=0.0).to(r.dtype)
    xp = x_ptr + offs
    yp = y_ptr + offs
    for _ in range(0, T):
        x = tl.load(xp, mask=mask, other=0.0).to(r.dtype)
        y = _leak(y, x, c, r, FORM)
        tl.store(yp, y.to(y_ptr.dtype.element_ty), mask=mask)
        xp += N
        yp += N
    tl.store(ylast_ptr + offs, y.to(ylast_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["T"])
def leaky_backward(
    x_ptr,  # [T, N] input (read for dL/dc of FORM 1 only)
    y0_ptr,  # [N] initial state (read for dL/dc only)
    y_ptr,  # [T, N] saved trajectory (read for dL/dc only)
    gy_ptr,  # [T, N] dL/dy (HAS_GY)
    gyl_ptr,  # [N] dL/dy[T-1] of the final state (HAS_GL)
    coef_ptr,
    c_ptr,
    gx_ptr,  # [T, N] dL/dx out
    gy0_ptr,  # [N] dL/dy0 out
    gc_ptr,  # [N] compute-dtype dL/dc per neuron out (WANT_C)
    T,
    N,
    FORM: tl.constexpr,
    C_VEC: tl.constexpr,
    HAS_GY: tl.constexpr,
    HAS_GL: tl.constexpr,
    WANT_C: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """One reverse pass: the carried ``g = dL/dy[t]`` gives ``dL/dx[t]`` and, times
    ``dy[t]/dy[t-1]``, the next carry; ``dL/dc`` sums ``g dy[t]/dc``."""
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    r = tl.load(c_ptr)
    c = _param(coef_ptr, offs, mask, r, C_VEC)
    zero = tl.full([BLOCK], 0.0, r.dtype)
    g = tl.load(gyl_ptr + offs, mask=mask, other=0.0).to(r.dtype) if HAS_GL else zero
    ac = zero
    if WANT_C:
        y0 = tl.load(y0_ptr + offs, mask=mask, other=0.0).to(r.dtype)
    last = (T - 1).to(tl.int64) * N
    gyp = gy_ptr + last + offs
    gxp = gx_ptr + last + offs
    yp = y_ptr + last + offs
    xp = x_ptr + last + offs
    for i in range(0, T):
        gt = g + tl.load(gyp, mask=mask, other=0.0).to(r.dtype) if HAS_GY else g
        if WANT_C:
            has_prev = i < T - 1
            prev = tl.load(yp - N, mask=offs < tl.where(has_prev, N, 0), other=0.0).to(r.dtype)
            prev = tl.where(has_prev, prev, y0)
            if FORM == 1:
                x = tl.load(xp, mask=mask, other=0.0).to(r.dtype)
                ac = ac + gt * (x - (prev - r))
            elif FORM == 2:
                ac = ac - gt * (prev - r)
            elif FORM == 3:
                ac = ac + gt * prev
        gx = gt * c if FORM == 1 else gt
        tl.store(gxp, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        if FORM == 0:
            g = gt
        elif FORM == 3:
            g = gt * c
        else:
            g = gt * (1.0 - c)
        gyp -= N
        gxp -= N
        yp -= N
        xp -= N
    tl.store(gy0_ptr + offs, g.to(gy0_ptr.dtype.element_ty), mask=mask)
    if WANT_C:
        tl.store(gc_ptr + offs, ac, mask=mask)


# -------------------------------------------------- adaptive threshold ("alif" family)
# theta[t] = V_th + b a[t-1]; H = charge(V[t-1], X[t]); S = [H - theta >= 0];
# V[t] = reset(H, S, theta); a[t] = rho a[t-1] + S  (see spikeforge.functional.alif).
# Constants c_ptr = [v_reset, a, b, c0, c1, inv_tau, v_th, adaptation b, rho].


@triton.jit(do_not_specialize=["T"])
def alif_forward(
    x_ptr,  # [T, N] input current
    v0_ptr,  # [N] initial membrane
    a0_ptr,  # [N] initial adaptation
    k_ptr,  # inv_tau: [N] (K_VEC) or one value
    th_ptr,  # v_th: [N] (TH_VEC) or one value
    bb_ptr,  # adaptation strength b: [N] (B_VEC) or one value
    c_ptr,  # [9] constants in the compute dtype
    s_ptr,  # [T, N] spikes out
    v_ptr,  # [N] final membrane out
    a_ptr,  # [N] final adaptation out
    T,
    N,
    CHARGE: tl.constexpr,
    RESET: tl.constexpr,
    K_VEC: tl.constexpr,
    TH_VEC: tl.constexpr,
    B_VEC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Charge, fire against the adapted threshold, reset, adapt: all T steps of a block."""
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    vr = tl.load(c_ptr)
    rho = tl.load(c_ptr + 8)
    k = _param(k_ptr, offs, mask, vr, K_VEC)
    th = _param(th_ptr, offs, mask, vr, TH_VEC)
    bb = _param(bb_ptr, offs, mask, vr, B_VEC)
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0).to(vr.dtype)
    a = tl.load(a0_ptr + offs, mask=mask, other=0.0).to(vr.dtype)
    xp = x_ptr + offs
    sp = s_ptr + offs
    for _ in range(0, T):
        x = tl.load(xp, mask=mask, other=0.0).to(vr.dtype)
        theta = th + bb * a
        h = _charge(v, x, k, vr, CHARGE)
        fire = (h - theta) >= 0.0
        f = fire.to(vr.dtype)
        tl.store(sp, f.to(s_ptr.dtype.element_ty), mask=mask)
        v = _reset(h, fire, theta, vr, RESET)
        a = rho * a + f
        xp += N
        sp += N
    tl.store(v_ptr + offs, v.to(v_ptr.dtype.element_ty), mask=mask)
    tl.store(a_ptr + offs, a.to(a_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["T"])
def alif_backward(
    x_ptr,  # [T, N] input
    v0_ptr,  # [N]
    a0_ptr,  # [N]
    h_ptr,  # [T, N] compute-dtype scratch: H, recomputed here first
    ah_ptr,  # [T, N] compute-dtype scratch: a[t], recomputed here first
    gs_ptr,  # [T, N] dL/dS
    gvt_ptr,  # [N] dL/dV[T-1]
    gat_ptr,  # [N] dL/da[T-1]
    k_ptr,
    th_ptr,
    bb_ptr,
    c_ptr,
    gx_ptr,  # [T, N] dL/dx out
    gv0_ptr,  # [N] out
    ga0_ptr,  # [N] out
    gk_ptr,  # [N] compute-dtype dL/d inv_tau per neuron out (WANT_K)
    gth_ptr,  # [N] compute-dtype dL/d v_th per neuron out (WANT_TH)
    gb_ptr,  # [N] compute-dtype dL/d b per neuron out (WANT_B)
    T,
    N,
    CHARGE: tl.constexpr,
    RESET: tl.constexpr,
    DETACH: tl.constexpr,
    SID: tl.constexpr,
    K_VEC: tl.constexpr,
    TH_VEC: tl.constexpr,
    B_VEC: tl.constexpr,
    WANT_K: tl.constexpr,
    WANT_TH: tl.constexpr,
    WANT_B: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Recompute ``H`` and ``a`` of a block into its scratch rows, then one reverse pass
    carrying ``g = dL/dV[t]`` and ``ga = dL/da[t]``: ``dL/dS = gs + ga + g dV/dS``,
    ``dL/dH = g dV/dH + dL/dS σ'``, ``dL/dθ = -dL/dS σ' - g S`` (subtract reset), then
    ``dL/da[t-1] = ρ ga + b dL/dθ`` and ``dL/dV[t-1]``, ``dL/dx`` from the charge."""
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    vr = tl.load(c_ptr)
    sa = tl.load(c_ptr + 1)
    sb = tl.load(c_ptr + 2)
    c0 = tl.load(c_ptr + 3)
    c1 = tl.load(c_ptr + 4)
    rho = tl.load(c_ptr + 8)
    k = _param(k_ptr, offs, mask, vr, K_VEC)
    th = _param(th_ptr, offs, mask, vr, TH_VEC)
    bb = _param(bb_ptr, offs, mask, vr, B_VEC)
    zero = tl.full([BLOCK], 0.0, vr.dtype)
    v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0).to(vr.dtype)
    a0 = tl.load(a0_ptr + offs, mask=mask, other=0.0).to(vr.dtype)
    # forward: H[t] and a[t] into this block's scratch rows
    v = v0
    a = a0
    hp = h_ptr + offs
    ap = ah_ptr + offs
    xp = x_ptr + offs
    for _ in range(0, T):
        x = tl.load(xp, mask=mask, other=0.0).to(vr.dtype)
        theta = th + bb * a
        h = _charge(v, x, k, vr, CHARGE)
        fire = (h - theta) >= 0.0
        tl.store(hp, h, mask=mask)
        v = _reset(h, fire, theta, vr, RESET)
        a = rho * a + fire.to(vr.dtype)
        tl.store(ap, a, mask=mask)
        hp += N
        ap += N
        xp += N
    tl.debug_barrier()  # the scratch rows are written before the reverse pass reads them
    g = tl.load(gvt_ptr + offs, mask=mask, other=0.0).to(vr.dtype)
    ga = tl.load(gat_ptr + offs, mask=mask, other=0.0).to(vr.dtype)
    ak = zero
    at = zero
    ab = zero
    last = (T - 1).to(tl.int64) * N
    hp = h_ptr + last + offs
    ap = ah_ptr + last + offs
    gsp = gs_ptr + last + offs
    gxp = gx_ptr + last + offs
    xp = x_ptr + last + offs
    for i in range(0, T):
        has_prev = i < T - 1  # t >= 1
        h = tl.load(hp, mask=mask, other=0.0)
        a_prev = tl.load(ap - N, mask=offs < tl.where(has_prev, N, 0), other=0.0)
        a_prev = tl.where(has_prev, a_prev, a0)
        theta = th + bb * a_prev
        u = h - theta
        fl = (u >= 0.0).to(vr.dtype)
        sg = _surrogate_grad(u, sa, sb, c0, c1, SID)
        gsum = tl.load(gsp, mask=mask, other=0.0).to(vr.dtype) + ga  # S also feeds a[t]
        gh, gsg = _reset_backward(g, gsum, h, theta, fl, sg, vr, RESET, DETACH)
        gtheta = -gsg - g * fl if RESET == 1 else -gsg
        if WANT_TH:
            at = at + gtheta
        if WANT_B:
            ab = ab + gtheta * a_prev
        if WANT_K:
            # V[t-1] = reset(H[t-1], S[t-1], theta[t-1]), v0 at t = 0
            has_pp = i < T - 2  # t >= 2
            h_prev = tl.load(hp - N, mask=offs < tl.where(has_prev, N, 0), other=0.0)
            a_pp = tl.load(ap - 2 * N, mask=offs < tl.where(has_pp, N, 0), other=0.0)
            theta_prev = th + bb * tl.where(has_pp, a_pp, a0)
            v_prev = _reset(h_prev, (h_prev - theta_prev) >= 0.0, theta_prev, vr, RESET)
            v_prev = tl.where(has_prev, v_prev, v0)
            if CHARGE == 1:
                x = tl.load(xp, mask=mask, other=0.0).to(vr.dtype)
                ak = ak + gh * (x - (v_prev - vr))
            else:
                ak = ak - gh * (v_prev - vr)
        gx = gh * k if CHARGE == 1 else gh
        tl.store(gxp, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        g = gh if CHARGE == 0 else gh * (1.0 - k)
        ga = rho * ga + bb * gtheta
        hp -= N
        ap -= N
        gsp -= N
        gxp -= N
        xp -= N
    tl.store(gv0_ptr + offs, g.to(gv0_ptr.dtype.element_ty), mask=mask)
    tl.store(ga0_ptr + offs, ga.to(ga0_ptr.dtype.element_ty), mask=mask)
    if WANT_K:
        tl.store(gk_ptr + offs, ak, mask=mask)
    if WANT_TH:
        tl.store(gth_ptr + offs, at, mask=mask)
    if WANT_B:
        tl.store(gb_ptr + offs, ab, mask=mask)
