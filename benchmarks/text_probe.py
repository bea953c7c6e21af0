"""How good sentence embeddings are for a downstream label: a linear probe and k-nearest-neighbour retrieval.

Embeddings are L2-normalised (cosine geometry, as sentence-transformers uses them). The probe is a logistic
regression fitted on the probe-train set; k-NN votes among the 10 most cosine-similar probe-train reviews. When the
teacher's probe-test embeddings are given (same width), the mean cosine between student and teacher vectors is added.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

NEIGHBOURS = 10


def probe_scores(embeddings: dict[str, torch.Tensor], sets: dict[str, Any],
                 teacher_test: torch.Tensor | None = None) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    train_x = F.normalize(embeddings["probe_train"].float(), dim=-1)
    test_x = F.normalize(embeddings["probe_test"].float(), dim=-1)
    train_y, test_y = sets["probe_train"].labels, sets["probe_test"].labels
    probe = LogisticRegression(max_iter=2000, C=1.0).fit(train_x.numpy(), train_y.numpy())
    linear = float((torch.from_numpy(probe.predict(test_x.numpy())) == test_y).float().mean())
    nearest = (test_x @ train_x.T).topk(NEIGHBOURS, dim=-1).indices  # (N_test, k)
    votes = train_y[nearest]  # (N_test, k)
    knn = float((votes.mode(dim=-1).values == test_y).float().mean())
    scores = {"linear_probe": linear, "knn": knn, "majority": float(test_y.float().mean().clamp(min=0))}
    scores["majority"] = max(scores["majority"], 1 - scores["majority"])
    if teacher_test is not None and teacher_test.shape == embeddings["probe_test"].shape:
        scores["cosine_to_teacher"] = float(F.cosine_similarity(embeddings["probe_test"].float(),
                                                                teacher_test.float(), dim=-1).mean())
    return scores
