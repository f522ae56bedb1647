"""Dropout from random bits: its masks, the attention it runs in, and the model it leaves behind."""

import pytest
import torch
from torch import nn

from textclf.models.bits_dropout import ATTENTION, BitsDropout, bits_dropout, bits_dropout_while_training

TEXTS = ["missile launch in pyongyang", "summit", "the minister visit to tokyo on the week"]  # padded


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_bits_dropout_zeroes_a_share_p_and_scales_the_rest(p):
    x = torch.ones(400, 500)
    torch.manual_seed(0)
    y = bits_dropout(x, p)
    assert (y == 0).float().mean().item() == pytest.approx(p, abs=0.005)
    assert torch.all((y == 0) | torch.isclose(y, torch.tensor(1 / (1 - p))))
    torch.manual_seed(0)
    assert torch.equal(bits_dropout(x, p), y)  # torch's seed decides the mask
    assert bits_dropout(x, p, training=False) is x


def _classifier(tiny):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(tiny, num_labels=2), AutoTokenizer.from_pretrained(tiny)


def test_the_attention_computes_what_the_models_own_does(tiny):
    model, tokenizer = _classifier(tiny)
    inputs = tokenizer(TEXTS, padding=True, return_tensors="pt")
    expected = model.eval()(**inputs).logits
    with bits_dropout_while_training(model):
        assert model.config._attn_implementation == ATTENTION
        torch.testing.assert_close(model(**inputs).logits, expected)  # eval: no dropout, same scores and mask
        model.train()
        assert model(**inputs).logits.sub(model(**inputs).logits).abs().max() > 0  # training: it drops


def test_the_model_is_left_as_it_was(tiny, tmp_path):
    model, _ = _classifier(tiny)
    dropouts = [name for name, module in model.named_modules() if type(module) is nn.Dropout]
    with bits_dropout_while_training(model):
        assert [name for name, module in model.named_modules() if type(module) is BitsDropout] == dropouts
    assert [name for name, module in model.named_modules() if type(module) is nn.Dropout] == dropouts
    assert model.config._attn_implementation == "sdpa"
    model.save_pretrained(tmp_path)
    assert ATTENTION not in (tmp_path / "config.json").read_text()
