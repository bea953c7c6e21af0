"""Each loss against a naive float64 reference written with explicit loops, on small tensors."""

import math

import pytest
import torch

from kdistill.losses import kd_kl_divergence
from kdistill.strategies.attention import attention_transfer_loss
from kdistill.strategies.crd import nce_loss
from kdistill.strategies.dkd import dkd_terms
from kdistill.strategies.fitnets import hint_loss
from kdistill.strategies.pkt import pkt_loss
from kdistill.strategies.rkd import rkd_angle_loss, rkd_distance_loss
from kdistill.strategies.similarity import similarity_preserving_loss

B = 5


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


def close(value, reference):
    assert value.dtype == torch.float32
    assert math.isclose(float(value), reference, rel_tol=1e-4, abs_tol=1e-6), (float(value), reference)


def test_attention_transfer(generator):
    student, teacher = torch.randn(B, 3, 4, 4, generator=generator), torch.randn(B, 6, 4, 4, generator=generator)

    def attention(maps, b):
        flat = [sum(float(maps[b, c, h, w]) ** 2 for c in range(maps.shape[1])) / maps.shape[1]
                for h in range(4) for w in range(4)]
        norm = math.sqrt(sum(v * v for v in flat))
        return [v / norm for v in flat]

    reference = sum((a - b) ** 2 for i in range(B) for a, b in zip(attention(student.double(), i),
                                                                     attention(teacher.double(), i))) / (B * 16)
    close(attention_transfer_loss(student, teacher), reference)


def test_similarity_preserving(generator):
    student, teacher = torch.randn(B, 2, 3, 3, generator=generator), torch.randn(B, 7, generator=generator)

    def gram(features):
        flat = features.double().reshape(B, -1).tolist()
        rows = [[sum(a * b for a, b in zip(flat[i], flat[j])) for j in range(B)] for i in range(B)]
        return [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in rows]

    gs, gt = gram(student), gram(teacher)
    reference = sum((gt[i][j] - gs[i][j]) ** 2 for i in range(B) for j in range(B)) / B**2
    close(similarity_preserving_loss(student, teacher), reference)


def huber(x):
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def test_rkd_distance_and_angle(generator):
    student, teacher = torch.randn(B, 4, generator=generator), 3 * torch.randn(B, 6, generator=generator)
    s, t = student.double().tolist(), teacher.double().tolist()

    def distances(points):
        d = [[math.dist(points[i], points[j]) for j in range(B)] for i in range(B)]
        mean = sum(d[i][j] for i in range(B) for j in range(B) if i != j) / (B * (B - 1))
        return [[v / mean for v in row] for row in d]

    ds, dt = distances(s), distances(t)
    close(rkd_distance_loss(student, teacher), sum(huber(ds[i][j] - dt[i][j]) for i in range(B) for j in range(B)) / B**2)

    def cosine(points, i, j, k):  # angle at vertex i between j and k
        u = [a - b for a, b in zip(points[j], points[i])]
        v = [a - b for a, b in zip(points[k], points[i])]
        nu, nv = math.sqrt(sum(x * x for x in u)), math.sqrt(sum(x * x for x in v))
        return 0.0 if nu == 0 or nv == 0 else sum(a * b for a, b in zip(u, v)) / (nu * nv)

    triples = [(i, j, k) for i in range(B) for j in range(B) for k in range(B)]
    reference = sum(huber(cosine(s, *ijk) - cosine(t, *ijk)) for ijk in triples) / B**3
    close(rkd_angle_loss(student, teacher), reference)


def test_pkt(generator):
    student, teacher = torch.randn(B, 4, generator=generator), torch.randn(B, 9, generator=generator)
    eps = 1e-7

    def conditional(points):
        unit = [[x / (math.sqrt(sum(y * y for y in p)) + eps) for x in p] for p in points]
        kernel = [[(sum(a * b for a, b in zip(unit[i], unit[j])) + 1) / 2 for j in range(B)] for i in range(B)]
        return [[v / sum(row) for v in row] for row in kernel]

    ps, pt = conditional(student.double().tolist()), conditional(teacher.double().tolist())
    reference = sum(pt[i][j] * math.log((pt[i][j] + eps) / (ps[i][j] + eps)) for i in range(B) for j in range(B))
    close(pkt_loss(student, teacher), reference / B**2)


def test_dkd_terms_and_their_relation_to_kd(generator):
    student, teacher = torch.randn(B, 6, generator=generator), 2 * torch.randn(B, 6, generator=generator)
    labels, temperature = torch.tensor([0, 3, 5, 1, 3]), 3.0

    def softmax(row):
        exps = [math.exp(v / temperature) for v in row]
        return [e / sum(exps) for e in exps]

    def kl(p, q):
        return sum(a * math.log(a / b) for a, b in zip(p, q))

    tckd = nckd = 0.0
    for i, y in enumerate(labels.tolist()):
        ps, pt = softmax(student[i].double().tolist()), softmax(teacher[i].double().tolist())
        tckd += kl([pt[y], 1 - pt[y]], [ps[y], 1 - ps[y]])
        rest_s = [p / (1 - ps[y]) for c, p in enumerate(ps) if c != y]
        rest_t = [p / (1 - pt[y]) for c, p in enumerate(pt) if c != y]
        nckd += kl(rest_t, rest_s)
    got_tckd, got_nckd = dkd_terms(student, teacher, labels, temperature)
    close(got_tckd, tckd * temperature**2 / B)
    close(got_nckd, nckd * temperature**2 / B)
    # the paper's decomposition, per sample: KD = TCKD + (1 − p_gt^t) · NCKD
    one = slice(0, 1)
    t1, n1 = dkd_terms(student[one], teacher[one], labels[one], temperature)
    p_gt = torch.softmax(teacher[0] / temperature, 0)[0]
    close(kd_kl_divergence(student[one], teacher[one], temperature), float(t1 + (1 - p_gt) * n1))


def test_hint_mse(generator):
    student, teacher = torch.randn(B, 2, 3, 3, generator=generator), torch.randn(B, 2, 3, 3, generator=generator)
    reference = sum((a - b) ** 2 for a, b in zip(student.double().flatten().tolist(),
                                                 teacher.double().flatten().tolist())) / student.numel()
    close(hint_loss(student, teacher), reference)


def test_nce(generator):
    scores = torch.rand(B, 4, generator=generator) * 2  # (B, 1 + K), K = 3
    num_samples, eps = 50, 1e-7
    noise = 3 / num_samples
    reference = 0.0
    for row in scores.double().tolist():
        reference -= math.log(row[0] / (row[0] + noise + eps))
        reference -= sum(math.log(noise / (h + noise + eps)) for h in row[1:])
    close(nce_loss(scores, num_samples), reference / B)
