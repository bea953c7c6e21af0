"""Language-model distillation: token-level losses, the sequence teacher cache, vocabulary checks, corpora of
token blocks, the SmolLM2 teacher and small Llama students, and the pipeline behind ``kdistill run`` for them."""
