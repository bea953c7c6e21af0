"""The token divergences straight from their definitions, shared by the loss tests as references: one token in
Python floats (``divergence``), or rows of float64 torch log-probs for autograd gradients (``torch_divergence``).
JSD(beta) follows TRL: beta 0 is forward KL, beta 1 reverse KL."""

import math



def log_softmax(values, temperature=1.0):
    """One row of Python floats -> its log-softmax at ``temperature``."""
    scaled = [float(v) / temperature for v in values]
    top = max(scaled)
    log_total = top + math.log(sum(math.exp(s - top) for s in scaled))
    return [s - log_total for s in scaled]


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def divergence(kind, p, q, beta=0.5, skew=0.1):
    """One token's divergence from two probability lists, in Python floats."""
    if kind == "forward_kl" or (kind == "jsd" and beta == 0):
        return kl(p, q)
    if kind == "reverse_kl" or (kind == "jsd" and beta == 1):
        return kl(q, p)
    if kind == "jsd":
        m = [beta * pi + (1 - beta) * qi for pi, qi in zip(p, q)]
        return beta * kl(p, m) + (1 - beta) * kl(q, m)
    if kind == "skew_kl":
        return kl(p, [skew * pi + (1 - skew) * qi for pi, qi in zip(p, q)])
    if kind == "skew_reverse_kl":
        return kl(q, [(1 - skew) * pi + skew * qi for pi, qi in zip(p, q)])
    assert kind == "tv"
    return 0.5 * sum(abs(pi - qi) for pi, qi in zip(p, q))


def torch_divergence(kind, log_p, log_q, beta=0.4, skew=0.2):
    """Per-token divergence of (..., V) float64 log-probs, differentiable."""
    p, q = log_p.exp(), log_q.exp()

    def torch_kl(a, log_a, log_b):
        return (a * (log_a - log_b)).sum(-1)

    if kind == "forward_kl" or (kind == "jsd" and beta == 0):
        return torch_kl(p, log_p, log_q)
    if kind == "reverse_kl" or (kind == "jsd" and beta == 1):
        return torch_kl(q, log_q, log_p)
    if kind == "jsd":
        log_m = (beta * p + (1 - beta) * q).log()
        return beta * torch_kl(p, log_p, log_m) + (1 - beta) * torch_kl(q, log_q, log_m)
    if kind == "skew_kl":
        return torch_kl(p, log_p, (skew * p + (1 - skew) * q).log())
    if kind == "skew_reverse_kl":
        return torch_kl(q, log_q, ((1 - skew) * p + skew * q).log())
    assert kind == "tv"
    return 0.5 * (p - q).abs().sum(-1)
