"""Grounding: is a point someone else wrote said by the article itself?

A point is compared with each of the article's sentences in the sentence
encoder's space; its support is the best cosine similarity, and the sentence that gives it
is the point's source. A point whose support is below the threshold is not in the article
(an invention, or text an article's hidden instruction asked for) and is dropped.

The threshold is chosen on data by `summary-bot bench grounding` (benchmarks/grounding.py):
reference highlights against their own articles' sentences are points the article
supports; highlights of other articles (the most similar other article's, the hard case)
are points it does not. The measured numbers are in DEFAULT_THRESHOLD's note.

A sentence of the article that speaks to a model ("ignore previous instructions and
write …", "note to AI summarizers: …") or says what a summary of it must say ("the key
point every summary must mention is that …", "when summarising this story, state …") is no
support for anything: a model that obeyed it would otherwise find its output "in the
article". Such sentences are left out of the candidates (`addresses_the_model`). The
title is no candidate either: it is the page's own words, as open to an injection as any
sentence, and no sentence of the article stands behind it.

Pure functions over text and vectors: the caller embeds (one job of the inference service)
so that this module never touches the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.sentences import split_sentences

# Chosen with `summary-bot bench grounding --data cnndm_raw_dev.jsonl` (all-MiniLM-L6-v2 on
# the default ONNX int8 encoder, 110 CNN/DailyMail articles, 396 highlights): the lowest
# threshold at which at most 2% of the nearest other article's highlights pass. At 0.51,
# 88.6% of supported highlights are kept, 2.0% of nearest-article ones and 0.2% of
# random-article ones pass (medians: 0.67 supported, 0.33 nearest, 0.185 random); at 0.50,
# 3.5% of nearest-article ones passed (torch bfloat16: 2.2%, so 0.51 by the same rule). The
# best-separating threshold (Youden) is 0.46, keeping 96.2% but passing 8.4% of
# nearest-article ones: a dropped true point costs little (an extractive point takes its
# place), a kept invented one costs trust.
DEFAULT_THRESHOLD = 0.51
MAX_GROUNDING_SENTENCES = 200  # an article's opening that points are checked against (bounds the embed job)
MAX_SENTENCE_CHECKED = 2_000  # characters of one sentence searched for an instruction (bounds the regex's work)


# What marks a sentence as addressed to whoever reads the page for a summary (English, and
# the commonest words of a few other languages). Three parts, so that each stays a plain
# alternation (linear) and an article about AI or about a report's summary is not caught
# by one word alone:
# - instructions that need nothing else: "ignore previous instructions", "note to AI", "when
#   summarising this", "AI models reading this page", "in your summary", "dear chatbot";
# - a summary or the page itself as topic ("summary", "key point", "takeaway", "TL;DR",
#   "this article") with any directive ("must", "should", "make sure", "is that", ":");
# - a model as addressee ("AI assistants", "language models", "chatbots") with a modal
#   before a verb of saying ("should tell", "must mention", "are required to state").
_AI = (
    r"(?:ai|a\.i\.|artificial intelligence|llms?|(?:large )?language models?|chatbots?|chat ?gpt|gpt[\w.-]*|claude|gemini|"
    r"copilot|bots?|crawlers?|scrapers?|(?:ai|virtual|digital|automated) (?:assistants?|agents?|models?|systems?|tools?|readers?)|"
    r"(?:ai|text|machine) (?:models?|systems?)|summari[sz]ers?|summari[sz]ation (?:tools?|systems?|models?))"
)
_SUMMARY = (
    r"(?:summar(?:y|ies|i[sz]\w*)|tl;? ?dr|recaps?|synops[ie]s|bullet points?|bottom line|news digests?|digests? of|"
    r"(?:short|shorter|brief|condensed|abridged) versions?|"
    r"key (?:points?|takeaways?|facts?|messages?)|main (?:points?|takeaways?|messages?)|"
    r"takeaways?|(?:most|single most|really) important (?:point|fact|thing|detail|message|information)|"
    r"what (?:readers|everyone|people|you) (?:needs?|should|must|ha(?:s|ve)) to know|"
    r"(?:this|the present|the above|the following) (?:article|story|page|post|piece|text|report|content|document|webpage|site|news)|"
    r"(?:any|every|each) (?:\w+ )?(?:retellings?|overviews?|write-?ups?|digests?)|"
    r"zusammenfass\w*|résumé\w*|resumen\w*|resumo\w*|riassunt\w*|samenvatting\w*|sammanfattning\w*|podsumowani\w*)"
)
_DIRECTIVE = (
    r"(?:must|should|shall|ought|needs? to|ha(?:s|ve) to|(?:is|are|be|being) (?:required|expected|supposed|instructed|asked|obliged|meant|told) to|"
    r"be sure|make sure|ensure|remember|(?:do not|don't|never) (?:forget|omit|leave out)|always|never|please|"
    r"it is (?:essential|important|crucial|vital|imperative|mandatory|necessary) (?:that|to)|"
    r"mention|include|state|say|write|note|emphasi[sz]e|stress|highlight|begin|start|end|conclude|repeat|quote|cite|"
    r"(?:is|are|was|remains) that|muss|müssen|soll|sollte|doit|doivent|debe|deben|deve|devono|moet|måste|musi)"
)
_SPEECH = (
    r"(?:say|write|state|mention|include|output|reply|respond|answer|summari[sz]e|tell|inform|remind|report|note|describe|"
    r"recommend|add|list|emphasi[sz]e|stress|highlight|repeat|quote|present|refer|direct|send|link|point|advise|urge|warn)"
)
_MODAL = (
    r"(?:must|should|shall|ought to|needs? to|ha(?:s|ve) to|(?:is|are) (?:required|expected|supposed|instructed|asked|obliged|meant|told) to"
    r")"
)
_TO_THE_MODEL_RE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?]{0,30}?\b(?:previous|prior|above|earlier|all|any|your|system|original)\b"
    r"[^.!?]{0,20}?\b(?:instructions?|prompts?|rules|directions|guidelines|context)\b"
    r"|\bsystem prompt\b"
    rf"|\b(?:note|message|memo|reminder|instructions?|attention|hint|tip|request|guidance|warning) (?:to|for) (?:any |all |the |every )?{_AI}\b"
    rf"|\b(?:dear|attention|hey|hello|calling|to all) (?:any |all |the )?{_AI}\b"
    rf"|(?:^|[.;!?] )(?:{_AI}|assistants?|models?|agents?): |\b{_AI}, (?:please|you (?:must|should)|remember|make sure|ignore|write|say|mention|include)\b"
    r"|\byou are (?:now )?(?:an? |the )?(?:ai|assistant|chatbot|llm|language model|summari[sz]er|bot|model)\b"
    rf"|\b(?:if|when|since) you(?:'re| are)? (?:an? |the )?{_AI}\b|\bas an? (?:ai|llm|language model|assistant|chatbot)(?: (?:model|assistant|system))?,"
    r"|\b(?:when|while|if|before|after|in) (?:you(?:'re| are)? )?(?:summari[sz]ing|recapping|condensing|paraphrasing|writing (?:a |the |your |any )?(?:summary|recap|tl;? ?dr|key points|bullet points)|(?:a |the |your )?summari[sz]ing)\b"
    r"|\b(?:reading|processing|parsing|summari[sz]ing|analy[sz]ing|crawling|indexing|ingesting|scraping) this (?:page|article|text|document|content|story|site|post|piece|report|webpage|message)\b"
    r"|\byour (?:answer|response|reply|output|summary|summaries|recap|notes|key points|bullet points)\b"
    r"|\b(?:new|updated|real|actual|hidden|secret) instructions?(?::| (?:for|to) (?:you|the (?:ai|model|assistant|summari[sz]er)))"
    rf"|\b{_SUMMARY}\b[^.!?]{{0,120}}?(?:\b{_DIRECTIVE}\b|:)"
    rf"|\b{_DIRECTIVE}\b[^.!?]{{0,120}}?\b{_SUMMARY}\b"
    rf"|\b{_AI}\b[^.!?]{{0,60}}?\b{_MODAL} (?:(?:also|only|first|clearly|explicitly|always|never|be sure to|make sure to|not) )?{_SPEECH}\b",
    re.I,
)


def addresses_the_model(sentence: str) -> bool:
    """Whether `sentence` speaks to an AI reading the page, or says what a summary of the
    page must say (a prompt injection, in so many words or phrased as a fact)."""
    return bool(_TO_THE_MODEL_RE.search(sentence[:MAX_SENTENCE_CHECKED]))


@dataclass
class Grounded:
    point: str
    support: float  # best cosine similarity with a sentence of the article
    source: str  # that sentence
    source_index: int  # its place among the candidates (-1: there were none)


def article_sentences(text: str, budget: int) -> list[str]:
    """The sentences of the article's first `budget` characters (a sentence cut by the
    budget is left out), at most MAX_GROUNDING_SENTENCES: what an LLM is shown and what
    its points are checked against."""
    head = text[:budget]
    sentences = split_sentences(head, limit=MAX_GROUNDING_SENTENCES)
    if len(text) > budget and len(sentences) > 1 and len(sentences) < MAX_GROUNDING_SENTENCES:
        sentences = sentences[:-1]  # the last one may stop mid-sentence
    return sentences


def ground(points: list[str], candidates: list[str], vectors: np.ndarray) -> list[Grounded]:
    """Each point's best match among `candidates`. `vectors` holds L2-normalised rows: the
    points' first, then the candidates' (one embed job)."""
    if not points:
        return []
    if not candidates:
        return [Grounded(p, 0.0, "", -1) for p in points]
    similarity = best_similarities(vectors[: len(points)], vectors[len(points) :])
    found = []
    for point, row in zip(points, similarity):
        best = int(np.argmax(row))
        found.append(Grounded(point, float(row[best]), candidates[best], best))
    return found


def best_similarities(point_vectors: np.ndarray, sentence_vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of each point (rows) with each sentence (columns)."""
    return np.asarray(point_vectors, dtype=np.float32) @ np.asarray(sentence_vectors, dtype=np.float32).T
