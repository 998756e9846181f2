r"""The empirical score and the posterior of :math:`X_0` given :math:`X_t` under the empirical law.

For training data :math:`x_1, \dots, x_n` the noised empirical law is
:math:`\hat P_t = \frac{1}{n} \sum_i N(a_t x_i, s_t^2 I)`. With the posterior weights

.. math::

    w_i(x) = \mathrm{softmax}_i\Big(-\frac{\|x - a_t x_i\|^2}{2 s_t^2}\Big) = P(X_0 = x_i \mid X_t = x)

the empirical score, the posterior mean and covariance, and the Hessian of :math:`\log \hat p_t` are

.. math::

    \nabla \log \hat p_t(x) &= \sum_i w_i(x)\, \frac{a_t x_i - x}{s_t^2}
        = \frac{a_t\, E[X_0 \mid X_t = x] - x}{s_t^2} \quad \text{(Tweedie)}, \\
    E[X_0 \mid X_t = x] &= \sum_i w_i(x)\, x_i, \\
    \mathrm{Cov}[X_0 \mid X_t = x] &= \sum_i w_i(x)\, (x_i - m)(x_i - m)^\top, \\
    \nabla^2 \log \hat p_t(x) &= -\frac{I}{s_t^2} + \frac{a_t^2}{s_t^4}\, \mathrm{Cov}[X_0 \mid X_t = x].

**Accuracy at small t in float32.** The fast way to get all :math:`n` logits is a matrix product,
:math:`-\|x - a x_i\|^2 = -\|x\|^2 + 2a\, x \cdot x_i - a^2 \|x_i\|^2`, but the three terms are of size
:math:`\|x\|^2 \sim d` while their sum is of size :math:`s_t^2 d`: in float32 the logits carry errors of order
:math:`10^{-7} d / s_t^2` (about 0.3 at :math:`d = 3072`, :math:`t = 10^{-3}`), enough to get the weights of two
nearly tied training points badly wrong; the naive float32 kernel (cdist, softmax, matmul) is wrong by up to
30% of the score scale at midpoints between CIFAR-10 images.

**How** :func:`empirical_score` **stays exact at the cost of about one matrix product** (two at large
:math:`t`, where the weights spread). One pass over chunks of the data, then one float64 pass over a few points:

1. :math:`G_i = a\, x \cdot x_i - a^2 \|x_i\|^2 / 2` (:math:`= \|x\|^2/2 - \|x - a x_i\|^2/2`) for the whole
   chunk by one matrix product in the working dtype (``torch.addmm`` folds the norms in), kept unscaled by
   :math:`1/s_t^2` so that nothing overflows at any :math:`t`; per query the :math:`k + 1` largest values
   (``topk``, :math:`k` = ``num_candidates``) and the running maximum :math:`m`.
2. The float32 error of :math:`G_i` is bounded by
   :math:`\varepsilon (\sqrt{d} + 16)(a \|x\| \|x_i\| + a^2 \|x_i\|^2 / 2 + |m|)` (measured errors are below
   :math:`3 \varepsilon` times that scale; :math:`\sqrt{d}` is the random-walk growth of rounding in a
   length-:math:`d` sum). A point whose :math:`G_i` lies more than :math:`40 + \log n` logits plus twice that
   bound below :math:`m` carries less than :math:`e^{-40}/n` of the largest weight: together such points weigh
   less than :math:`e^{-40}` (float64 cannot see them).
3. A query with at most :math:`k` points of the chunk within that margin *lists* them (indices only; one or
   two per query at small :math:`t`, where the logits of different training points differ by far more than
   the error). A query with more (*dense*: large :math:`t`, small float32 error) sums the chunk's points in
   the working dtype (``exp`` of its logits shifted by :math:`m`, the second matrix product, for the dense
   queries only), except those among its :math:`k` largest so far whose float32 weight error could exceed
   :math:`10^{-12}` of the largest weight (within :math:`\log(1.72\, \delta / 10^{-12})` logits of the top,
   :math:`\delta` = twice the bound over :math:`s_t^2`): it lists those. Where the bound exceeds a logit (tiny
   :math:`t`, a cluster of near-duplicates) every point within the margin is listed, however many.
4. At the end, with the final maxima, listed points below the margin are dropped and the rest recomputed in
   float64 from the explicit differences :math:`x - a x_i` (queries with equally many points together, in
   blocks that stay in cache), with weights :math:`\exp(-(E_i - e)/s_t^2)`, :math:`E_i = \|x - a x_i\|^2/2`,
   relative to :math:`e = \|x\|^2/2 - m`: within the error bound of the smallest :math:`E_i`, so ``exp``
   never sees a huge argument and the result is finite for every :math:`t` that ``check_time`` accepts
   (where the bound exceeds 16 logits, :math:`e` is the smallest :math:`E_i`, from one more pass). The
   exact and dense parts are combined in float64.

Cost: one matrix product and one ``topk`` per chunk, plus ``exp`` and the second matrix product over the
rows of dense queries, plus :math:`O(d)` float64 work per recomputed point. Memory: one :math:`B \times`
chunk buffer of logits (two when some queries are dense), the index lists, float64 blocks of :math:`2^{18}`
elements. :func:`posterior_cov` and the Hessian work from explicit float64 differences.
"""

from __future__ import annotations

import math

import torch

from .process import alpha, sigma
from .validation import check_compatible, check_points, check_positive_int, check_time

__all__ = [
    "empirical_score",
    "empirical_log_prob",
    "posterior_weights",
    "posterior_mean",
    "posterior_cov",
    "empirical_score_hessian",
]

# Memory budget (number of tensor elements) for one chunk of intermediate results.
_CHUNK_ELEMENTS = 1 << 24
# Float64 elements in one block of exactly recomputed points (small enough to stay in cache).
_PAIR_ELEMENTS = 1 << 18
# Logits below the row maximum beyond which a point is dropped: e^-_DROP_LOGITS / n of the largest weight each.
_DROP_LOGITS = 40.0
# Default most points per query and chunk recomputed exactly before the dense path takes over.
_NUM_CANDIDATES = 16
# Dense rows: a point is recomputed exactly when its float32 weight error could exceed this fraction of the
# largest weight (``e^delta - 1 <= 1.72 delta`` for a logit error ``delta <= 1``).
_DENSE_TOL = 1e-12
# Exact part: weights relative to |x|^2/2 - m (no extra pass) while the float32 error bound is below this many logits.
_SHIFT_LOGITS = 16.0


def _check_inputs(x, t, data, *, scan_data: bool = True):
    """Validate the inputs; return ``t`` as a float. ``scan_data=False`` leaves the NaN/inf scan of
    ``data`` to the caller (the streaming kernel sees every squared norm anyway)."""
    if scan_data or not isinstance(data, torch.Tensor) or data.ndim != 2 or data.shape[0] == 0:
        check_points(data, "data")
    else:
        check_points(data[:1], "data")             # type, dtype, shape; the kernel checks the values
    check_points(x, "x", dim=data.shape[1])
    check_compatible(x, data)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x and data must be float32 or float64, got {x.dtype}")
    return check_time(t, dtype=x.dtype)


def _chunk_rows(chunk_size, rows_per_item: int, n: int) -> int:
    if chunk_size is None:
        return max(1, min(n, _CHUNK_ELEMENTS // max(1, rows_per_item)))
    return check_positive_int(chunk_size, "chunk_size")


def _matmul_unit_roundoff(x: torch.Tensor) -> float:
    """Unit roundoff of a matrix product of ``x``'s dtype as torch will run it (TF32 / bf16 if allowed)."""
    eps = torch.finfo(x.dtype).eps / 2
    if x.dtype == torch.float32:
        precision = torch.get_float32_matmul_precision()
        if precision == "medium":
            eps = max(eps, 2.0 ** -9)                      # bfloat16 inputs may be used
        elif precision == "high" or (x.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32):
            eps = max(eps, 2.0 ** -11)                     # TF32
    return eps


def _finite_in(value: torch.Tensor, dtype: torch.dtype, what: str, t: float) -> torch.Tensor:
    """``value`` (float64) cast to ``dtype``; a clear error instead of inf when it does not fit."""
    out = value.to(dtype)
    lo, hi = torch.aminmax(out)
    if not bool(torch.isfinite(lo) & torch.isfinite(hi)):
        big = value.abs().max().item()
        raise ValueError(f"{what} at t={t!r} is too large for {str(dtype).replace('torch.', '')} (entries up to "
                         f"{big:.3g}, it grows like 1/s_t^2): use a larger t or float64")
    return out


class _ExactPart:
    """Float64 online log-sum-exp over the points whose energies ``E_i = |x - a x_i|^2 / 2`` are recomputed exactly.

    Per query: a shift ``e`` (an energy), ``z = sum exp(-(E_i - e)/s^2)`` and ``s = sum exp(-(E_i - e)/s^2) x_i``.
    Points arrive as lists of (query, point) pairs; queries with equally many pairs are handled together, as a
    ``(queries, points)`` layout, in blocks small enough to stay in cache.
    """

    def __init__(self, x64: torch.Tensor, a: float, inv_s2: float):
        self.x64, self.a, self.inv_s2 = x64, a, inv_s2
        self.e = x64.new_full(x64.shape[:1], math.inf)
        self.z, self.s = torch.zeros_like(self.e), torch.zeros_like(x64)

    def _blocks(self, data, rows, idx):
        """``(queries, points, energies)`` for blocks of the pairs ``(rows[p], data[idx[p]])``; the points (float64)
        live in a buffer that the next block overwrites."""
        d = data.shape[1]
        order = torch.argsort(rows, stable=True)
        rows, idx = rows[order], idx[order]
        counts = torch.bincount(rows, minlength=self.e.shape[0])
        starts = torch.cumsum(counts, 0).sub_(counts)
        size = min(max(_PAIR_ELEMENTS, d), rows.shape[0] * d)
        buf32, buf64, diff_buf = data.new_empty(size), self.x64.new_empty(size), self.x64.new_empty(size)
        for k in torch.unique(counts).tolist():
            if k == 0:
                continue
            queries = (counts == k).nonzero().squeeze(1)
            cols = idx[starts[queries, None] + torch.arange(k, device=idx.device)]      # (queries, k)
            kb = max(1, min(k, size // d))
            qb = max(1, size // (kb * d))
            for q0 in range(0, queries.shape[0], qb):
                qq = queries[q0:q0 + qb]
                xq = self.x64.index_select(0, qq)[:, None, :]
                for k0 in range(0, k, kb):
                    ii = cols[q0:q0 + qb, k0:k0 + kb]
                    shape, used = (*ii.shape, d), ii.numel() * d
                    pts = torch.index_select(data, 0, ii.reshape(-1), out=buf32[:used].view(-1, d))
                    pts = buf64[:used].view(shape).copy_(pts.view(shape))
                    diff = torch.sub(xq, pts, alpha=self.a, out=diff_buf[:used].view(shape))   # explicit differences
                    yield qq, pts, diff.square_().sum(2).mul_(0.5)

    def add(self, data: torch.Tensor, rows: torch.Tensor, idx: torch.Tensor, shift: torch.Tensor) -> None:
        """The pairs ``(rows[p], data[idx[p]])``, weighted relative to ``shift`` (per query, float64): an energy at
        most a few ``s^2`` above the query's smallest; where ``shift`` is inf, that smallest energy (one more pass)."""
        if rows.shape[0] == 0:
            return
        missing = torch.isinf(shift.index_select(0, rows))
        if bool(missing.any()):
            shift = shift.clone()
            for qq, _, energy in self._blocks(data, rows[missing], idx[missing]):
                shift.scatter_reduce_(0, qq, energy.amin(1), "amin")
        touched = torch.unique(rows)
        e_old = self.e.index_select(0, touched)
        e_new = torch.minimum(e_old, shift.index_select(0, touched))
        factor = torch.where(torch.isinf(e_old), 0.0, torch.exp((e_new - e_old) * self.inv_s2))
        self.z.index_copy_(0, touched, self.z.index_select(0, touched).mul_(factor))
        self.s.index_copy_(0, touched, self.s.index_select(0, touched).mul_(factor[:, None]))
        self.e.index_copy_(0, touched, e_new)
        for qq, pts, energy in self._blocks(data, rows, idx):
            w = torch.exp((self.e.index_select(0, qq)[:, None] - energy).mul_(self.inv_s2))
            self.z.index_add_(0, qq, w.sum(1))
            self.s.index_add_(0, qq, torch.bmm(w[:, None, :], pts).squeeze(1))


class _DensePart:
    """Working-dtype sums over the points of dense (query, chunk) pairs: per query a shift ``m_d`` (a value of
    ``G``), ``Z_d = sum exp((G_i - m_d)/s^2)`` and ``S_d = sum exp((G_i - m_d)/s^2) x_i``."""

    def __init__(self, g: torch.Tensor, d: int, inv_s2: float):
        self.inv_s2, self.buf = inv_s2, None
        self.exp_floor = math.log(torch.finfo(g.dtype).tiny) + 1.0   # exp below this is negligible (and slow)
        self.m = g.new_full(g.shape[:1], -math.inf)
        self.z, self.s = g.new_zeros(g.shape[:1]), g.new_zeros(g.shape[0], d)

    def add(self, g, c, rows, shift, skip_rows, skip_cols) -> None:
        """Rows ``rows`` of the chunk ``g`` of ``G`` (points ``c``) with their new shift ``shift`` (>= those rows of
        ``g``), leaving out the entries ``(skip_rows, skip_cols)`` (``skip_rows`` counts positions in ``rows``)."""
        full = rows.shape[0] == g.shape[0]
        if full:
            w = g
        else:
            if self.buf is None:                                 # laid out like g (see its row stride)
                self.buf = torch.empty(g.shape[0], g.stride(0), dtype=g.dtype, device=g.device)
            w = torch.index_select(g, 0, rows, out=self.buf[:rows.shape[0], :g.shape[1]])
        w.sub_(shift[:, None]).mul_(self.inv_s2).clamp_min_(self.exp_floor).exp_()
        w.index_put_((skip_rows, skip_cols), torch.zeros((), dtype=w.dtype, device=w.device))
        m_old = self.m if full else self.m.index_select(0, rows)
        rescale = torch.exp((m_old.double() - shift.double()) * self.inv_s2).to(w.dtype)
        if full:
            self.m = shift
            self.z.mul_(rescale).add_(w.sum(1))
            self.s.mul_(rescale[:, None]).addmm_(w, c)
        else:
            self.m.index_copy_(0, rows, shift)
            self.z.index_copy_(0, rows, self.z.index_select(0, rows).mul_(rescale).add_(w.sum(1)))
            self.s.index_copy_(0, rows, torch.addmm(self.s.index_select(0, rows).mul_(rescale[:, None]), w, c))


def _posterior_mean64(x: torch.Tensor, t: float, data: torch.Tensor, chunk_size: int | None,
                      num_candidates: int) -> torch.Tensor:
    """``E[X_0 | X_t = x] = sum_i w_i(x) x_i`` in float64, shape ``(B, d)``: one pass over chunks of ``data``,
    then the listed points recomputed exactly (steps 1-4 of the module docstring)."""
    a, s2 = alpha(t), sigma(t) ** 2
    (B, d), n = x.shape, data.shape[0]
    dev, dt, f64 = x.device, x.dtype, torch.float64
    chunk = min(_chunk_rows(chunk_size, B, n), n)
    k, inv_s2 = num_candidates, 1.0 / s2
    err_const = _matmul_unit_roundoff(x) * (math.sqrt(d) + 16.0)
    drop = (_DROP_LOGITS + math.log(n)) * s2                     # in energy units (logits times s^2)

    x64 = x.to(f64)
    x_norm = torch.linalg.vector_norm(x64, dim=1)
    m = torch.full((B,), -math.inf, dtype=dt, device=dev)        # running max of G over all points
    err = torch.zeros(B, dtype=f64, device=dev)                  # running bound on the error of G
    exact, dense = _ExactPart(x64, a, inv_s2), None
    listed: list[tuple[torch.Tensor, ...]] = []                  # (rows, data indices, G) to recompute exactly
    best = None                                                  # each row's k largest values of G so far
    # row stride of the logit buffer: a multiple of 16 elements that is not one of 32 (a power-of-two or
    # unaligned stride makes the matrix product writing it 10-20% slower on CPU: cache-set conflicts)
    g_buf = torch.empty(B, 16 * (math.ceil(chunk / 16) | 1), dtype=dt, device=dev)

    def recompute_listed(threshold):                             # drop what the final maxima make negligible
        if not listed:
            return
        rows, idx, val = (torch.cat(v) for v in zip(*listed))
        keep = val.to(f64) >= threshold.index_select(0, rows)
        m64 = m.to(f64)
        shift = torch.where(err * inv_s2 <= _SHIFT_LOGITS, 0.5 * x_norm.square() - m64, math.inf)
        exact.add(data, rows[keep], idx[keep], shift)
        listed.clear()

    for start in range(0, n, chunk):
        c = data[start:start + chunk]
        cs = c.shape[0]
        sq = torch.linalg.vector_norm(c, dim=1).square_()
        c_max = math.sqrt(sq.max().item())
        if not math.isfinite(c_max):                             # NaN and inf propagate into the norms
            raise ValueError("data contains NaN or infinite values (or entries whose squares overflow "
                             f"{str(dt).replace('torch.', '')})")
        g = g_buf[:, :cs]
        torch.addmm(sq, x, c.T, beta=-0.5 * a * a, alpha=a, out=g)     # G = a x.x_i - a^2 |x_i|^2 / 2
        top, top_idx = g.topk(min(k + 1, cs), dim=1)             # sorted, largest first
        m = torch.maximum(m, top[:, 0])
        m64 = m.to(f64)
        err = torch.maximum(err, err_const * (a * c_max * x_norm + 0.5 * a * a * c_max ** 2 + m64.abs()))
        threshold = m64 - drop - 2.0 * err
        over = top[:, k] >= threshold.to(dt) if cs > k else torch.zeros(B, dtype=torch.bool, device=dev)
        force = over & (2.0 * err * inv_s2 > 1.0)                # float32 weights would be off by > 1 logit
        dense_rows = over & ~force

        # each row's listed points are a prefix of its sorted top k; a dense row lists only those among its k
        # largest so far whose float32 weight error could show: within log(1.72 delta / tol) logits of the
        # top, delta = 2 err / s^2
        best = top[:, :k] if best is None else torch.cat([best, top[:, :k]], 1)
        best = best.topk(min(k, best.shape[1]), dim=1).values
        cut = threshold
        if bool(dense_rows.any()):
            window = s2 * torch.log((3.5 * err * inv_s2 / _DENSE_TOL).clamp_min_(1.0))
            kth = best[:, -1].to(f64) if best.shape[1] == k else torch.full_like(m64, -math.inf)
            cut = torch.where(dense_rows, torch.maximum(m64 - window - 2.0 * err, kth), threshold)
        valid = (top[:, :k] >= cut.to(dt)[:, None]) & ~force[:, None]
        r, j = valid.nonzero(as_tuple=True)
        listed.append((r, top_idx[r, j] + start, top[r, j]))
        if bool(force.any()):                                    # all points in the margin, however many
            rows = force.nonzero().squeeze(1)
            gf = g.index_select(0, rows)
            rf, jf = (gf >= threshold.to(dt).index_select(0, rows)[:, None]).nonzero(as_tuple=True)
            listed.append((rows[rf], jf + start, gf[rf, jf]))
        if bool(dense_rows.any()):                               # the rest of their points here, in the working dtype
            rows = dense_rows.nonzero().squeeze(1)
            if dense is None:
                dense = _DensePart(g, d, inv_s2)
            skip = dense_rows[r]
            pos = torch.cumsum(dense_rows, 0).sub_(1)
            dense.add(g, c, rows, m.index_select(0, rows), pos[r[skip]], top_idx[r[skip], j[skip]])
        if sum(v[0].shape[0] for v in listed) > _CHUNK_ELEMENTS // 16:
            recompute_listed(threshold)
    recompute_listed(threshold)

    if dense is None:
        return exact.s.div_(exact.z[:, None])
    # Combine: shift both parts to the smaller of their reference energies (the exact part is never empty).
    has_d = dense.z > 0
    e_d = torch.where(has_d, 0.5 * x_norm.square() - dense.m.to(f64), math.inf)
    e0 = torch.minimum(exact.e, e_d)
    f_e = torch.exp((e0 - exact.e) * inv_s2)
    f_d = torch.where(has_d, torch.exp((e0 - e_d) * inv_s2), 0.0)
    z = exact.z.mul_(f_e).add_(dense.z.to(f64).mul_(f_d))
    return exact.s.mul_(f_e[:, None]).addcmul_(dense.s, f_d[:, None]).div_(z[:, None])


def _posterior_mean64_autograd(x: torch.Tensor, t: float, data: torch.Tensor) -> torch.Tensor:
    """The posterior mean in float64 as a differentiable function of ``x`` and ``data`` (any order).

    Values from the exact energies (explicit differences); gradients through the expanded form
    ``|x|^2/2 - a x.x_i + a^2 |x_i|^2/2`` of the same energies (``value + (f - f.detach())`` keeps the
    exact value and takes ``f``'s derivatives). Memory ``O(B n + (B + n) d)``: for small problems.
    """
    a, s2 = alpha(t), sigma(t) ** 2
    x64, data64 = x.to(torch.float64), data.to(torch.float64)
    with torch.no_grad():
        logits, e_min = _exact_logits64(x, t, data)
        exact = e_min[:, None] - logits * s2
    expanded = torch.addmm((0.5 * a * a) * data64.square().sum(1), x64, data64.T, alpha=-a) \
        + 0.5 * x64.square().sum(1, keepdim=True)
    energy = exact + (expanded - expanded.detach())
    w = torch.softmax((e_min[:, None] - energy) / s2, 1)
    return w @ data64


def _mean64(x, t, data, chunk_size, num_candidates):
    if torch.is_grad_enabled() and (x.requires_grad or data.requires_grad):
        check_points(data, "data")
        return _posterior_mean64_autograd(x, t, data)
    return _posterior_mean64(x, t, data, chunk_size, num_candidates)


def empirical_score(x: torch.Tensor, t, data: torch.Tensor, *, chunk_size: int | None = None,
                    num_candidates: int = _NUM_CANDIDATES) -> torch.Tensor:
    """Score of the noised empirical law, ``grad log p^_t(x) = sum_i w_i(x) (a_t x_i - x) / s_t^2``.

    Args:
        x: queries, shape ``(B, d)``.
        t: diffusion time, a finite real ``> 0`` (Python or NumPy scalar, or a one-element tensor), no
            smaller than ``validation.smallest_time(x.dtype)``.
        data: training points ``x_1..x_n``, shape ``(n, d)``, same dtype and device as ``x``.
        chunk_size: rows of ``data`` processed at once (memory ``~ B * chunk_size``); automatic if None.
        num_candidates: per query and chunk, the most points near the top recomputed exactly in float64;
            a query with more such points takes that chunk through the dense (working-dtype) path.

    Returns:
        Tensor of shape ``(B, d)``, dtype of ``x``; always finite (a ``ValueError`` if the true score
        does not fit the dtype). When ``x`` or ``data`` requires grad (and grad mode is on) the result
        is differentiable; it then comes from an explicit float64 path meant for small problems.
    """
    t = _check_inputs(x, t, data, scan_data=False)
    num_candidates = check_positive_int(num_candidates, "num_candidates")
    mean = _mean64(x, t, data, chunk_size, num_candidates)
    # (a m - x) / s^2 in this order: a point sitting on a training point gives 0, not inf - inf
    return _finite_in(mean.mul_(alpha(t)).sub_(x).div_(sigma(t) ** 2), x.dtype, "the empirical score", t)


def posterior_mean(x: torch.Tensor, t, data: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
    """``E[X_0 | X_t = x] = sum_i w_i(x) x_i`` under the empirical law, shape ``(B, d)``."""
    t = _check_inputs(x, t, data, scan_data=False)
    return _mean64(x, t, data, chunk_size, _NUM_CANDIDATES).to(x.dtype)


def _exact_logits64(x: torch.Tensor, t: float, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(-(E_i - E_min) / s_t^2, E_min)`` in float64 with ``E_i = |x - a_t x_i|^2 / 2`` from explicit differences.

    Shape ``(B, n)`` and ``(B,)``; chunked over data. Shifting by the smallest energy before dividing by
    ``s_t^2`` keeps the largest logit of each row at exactly 0 for every ``t`` (no ``-inf - -inf``).
    """
    a = alpha(t)
    x64 = x.to(torch.float64)
    chunk = _chunk_rows(None, x.shape[0] * x.shape[1], data.shape[0])
    parts = []
    for start in range(0, data.shape[0], chunk):
        diff = x64[:, None, :] - a * data[None, start:start + chunk].to(torch.float64)
        parts.append(0.5 * (diff * diff).sum(-1))
    energy = torch.cat(parts, 1)
    e_min = energy.amin(1)
    return (e_min[:, None] - energy) / sigma(t) ** 2, e_min


def empirical_log_prob(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``log p^_t(x) = logsumexp_i(-|x - a_t x_i|^2 / (2 s_t^2)) - log n - (d/2) log(2 pi s_t^2)``, shape ``(B,)``."""
    t = _check_inputs(x, t, data)
    n, d = data.shape
    s2 = sigma(t) ** 2
    logits, e_min = _exact_logits64(x, t, data)
    return (torch.logsumexp(logits, 1) - e_min / s2 - math.log(n) - 0.5 * d * math.log(2 * math.pi * s2)).to(x.dtype)


def posterior_weights(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``w_i(x) = P(X_0 = x_i | X_t = x)``, shape ``(B, n)``, rows summing to one."""
    t = _check_inputs(x, t, data)
    return torch.softmax(_exact_logits64(x, t, data)[0], 1).to(x.dtype)


def _posterior_cov64(x: torch.Tensor, t: float, data: torch.Tensor) -> torch.Tensor:
    w = torch.softmax(_exact_logits64(x, t, data)[0], 1)
    data64 = data.to(torch.float64)
    m = w @ data64
    B, d = x.shape
    cov = torch.zeros(B, d, d, dtype=torch.float64, device=x.device)
    chunk = _chunk_rows(None, B * d, data.shape[0])
    for start in range(0, data.shape[0], chunk):
        centred = data64[None, start:start + chunk] - m[:, None, :]          # (B, c, d)
        cov.baddbmm_((centred * w[:, start:start + chunk, None]).transpose(1, 2), centred)
    return cov


def posterior_cov(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``Cov[X_0 | X_t = x] = sum_i w_i (x_i - m)(x_i - m)^T`` with ``m = E[X_0 | X_t = x]``, shape ``(B, d, d)``.

    Computed in float64 from explicit differences, in centred form (no ``E[XX^T] - mm^T``
    cancellation); memory ``O(B n + B d^2)`` plus chunks of ``B x c x d``, meant for moderate ``d``.
    """
    t = _check_inputs(x, t, data)
    return _posterior_cov64(x, t, data).to(x.dtype)


def empirical_score_hessian(x: torch.Tensor, t, data: torch.Tensor) -> torch.Tensor:
    """``grad^2 log p^_t(x) = -I / s_t^2 + (a_t^2 / s_t^4) Cov[X_0 | X_t = x]``, shape ``(B, d, d)``.

    Computed in float64 as ``((a_t^2 / s_t^2) Cov / s_t^2) - I / s_t^2`` (no ``1/s_t^4`` that could overflow
    on its own); a ``ValueError`` if the Hessian itself does not fit the dtype of ``x``.
    """
    t = _check_inputs(x, t, data)
    a, s2 = alpha(t), sigma(t) ** 2
    hess = _posterior_cov64(x, t, data).div_(s2).mul_(a * a / s2)
    hess.diagonal(dim1=1, dim2=2).sub_(1.0 / s2)
    return _finite_in(hess, x.dtype, "the Hessian of log p^_t", t)
