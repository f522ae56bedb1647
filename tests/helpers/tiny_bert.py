"""A tiny BERT and WordLevel tokenizer built in-process, offline, for fast transformer unit tests."""

from pathlib import Path

WORDS = ("missile launch pyongyang fired rocket summit visit meeting talks minister alliance commitment "
         "trust restore partners the a in on of and to seoul tokyo week").split()


def build_tiny_bert(folder: Path, dropout: float = 0.1) -> str:
    """``dropout``: BERT's hidden and attention dropout (0: a training step is a function of its
    batch alone, so one process and several sharing the batch compute the same loss)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    folder.mkdir(parents=True, exist_ok=True)
    # Seeded: its random weights are what every tiny-BERT test trains from, whatever ran before it
    # in the worker (an unseeded one made the early-stopping test pass or fail by test order).
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BertModel(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return str(folder)
