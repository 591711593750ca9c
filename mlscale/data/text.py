"""Free-text columns: a bounded vocabulary fitted on the train split, as columns xgboost takes.

A text column (see `mlscale.data.column_types` for when a column is one) becomes:
- `<col>__words`: the number of words in the value (missing: NaN);
- `<col>__tok_<term>`: how often each vocabulary term occurs in the value (missing: NaN), float32.

The vocabulary is scikit-learn's `CountVectorizer` over lower-cased words (its default token pattern:
two or more word characters) and word pairs, the `MAX_TERMS` most frequent on the train rows that occur
in at least `MIN_ROWS` of them. Counts, not TF-IDF: a tree is indifferent to a per-term scale. The
vocabulary is stored with the model as JSON (a model file is data, never a pickle) and predict counts
the same terms; words it has never seen count nowhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

MAX_TERMS = 100  # vocabulary terms per text column
MIN_ROWS = 2  # a term must occur in at least this many train rows
NGRAMS = (1, 2)
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default
_TOKEN = re.compile(TOKEN_PATTERN)


def as_text(values: pd.Series) -> list[str]:
    """Each value as text ("" where missing)."""
    return ["" if v is None or v != v else str(v) for v in values.astype(object)]


def word_counts(values: pd.Series) -> np.ndarray:
    """Words per value (scikit-learn's token pattern); NaN where missing."""
    counts = np.array([len(_TOKEN.findall(t)) for t in as_text(values)], dtype=np.float32)
    counts[values.isna().to_numpy()] = np.nan
    return counts


def _vectorizer(vocabulary: list[str] | None = None) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        lowercase=True,
        token_pattern=TOKEN_PATTERN,
        ngram_range=NGRAMS,
        max_features=None if vocabulary is not None else MAX_TERMS,
        min_df=1 if vocabulary is not None else MIN_ROWS,
        vocabulary=vocabulary,
        dtype=np.float32,
    )


@dataclass(frozen=True)
class TextColumn:
    """A text feature's vocabulary (stored with the model) and its model-input column names."""

    kind: ClassVar[str] = "text"
    terms: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "terms": list(self.terms)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextColumn:
        return cls(terms=list(d["terms"]))

    @classmethod
    def fit(cls, col: str, train: pd.Series, taken: set[str]) -> TextColumn:
        """The vocabulary of the train values: terms whose column name is new (`taken`: names in use)."""
        present = train.dropna()
        if present.empty:
            return cls(terms=[])
        vectorizer = _vectorizer()
        try:
            vectorizer.fit(as_text(present))
        except ValueError:  # no term in MIN_ROWS rows ("empty vocabulary", "max_df < min_df")
            return cls(terms=[])
        terms, names = [], set(taken) | {f"{col}__words"}
        for term in sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get):
            name = _name(col, term)
            if name not in names:
                names.add(name)
                terms.append(term)
        return cls(terms=terms)

    def names(self, col: str) -> list[str]:
        return [f"{col}__words", *(_name(col, t) for t in self.terms)]

    def columns(self, col: str, values: pd.Series) -> dict[str, np.ndarray]:
        """The model-input columns of one text feature (float32; NaN where the value is missing)."""
        out = {f"{col}__words": word_counts(values)}
        if not self.terms:
            return out
        counts = _vectorizer(self.terms).transform(as_text(values)).toarray()
        counts[values.isna().to_numpy()] = np.nan
        out.update(zip(self.names(col)[1:], counts.T, strict=True))
        return out


def _name(col: str, term: str) -> str:
    """`remarks__tok_broken_screen`: word characters and underscores only, valid for xgboost."""
    return f"{col}__tok_{term.replace(' ', '_')}"
