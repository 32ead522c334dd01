"""The byte-level BPE the tiny family builders train offline (LLaVA's lives in synthetic/tiny_vlm.py)."""
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast


def train_bpe(corpus, specials, *, vocab_size=384, role_words="User Assistant user model system",
              **special_tokens) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on `corpus` plus the chat template's role words, `specials` first (ids 0.., in
    order); `special_tokens` go to `PreTrainedTokenizerFast` (pad/eos tokens, chat template, padding side)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(corpus) + [role_words], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **special_tokens)
