"""Evaluation: measure a data set and the models trained on it in the workspace that holds them.

- ``rouge``: ROUGE-L of predictions against references; prediction files as response sets.
- ``evalsets``: the user-oriented 252, Vicuna 80 or your own file as an evaluation run.
- ``review``: the paper's four quality questions, by people or a judge model, and their agreement.
- ``ratings``: blind A-D rating of responses.
- ``hhh``: two sets' answers compared blind on helpful, honest and harmless, by people or a judge model.
- ``judge``: a judge model's 1-10 scores, alone or pairwise in both orders, relative to a reference.
- ``length``: answer length against judge score (trend, correlations, bucket means).
- ``pairs``: reward-model (prompt, chosen, rejected) pairs from scored responses.
- ``figures``: Plotly charts of the above.
"""

from .evalsets import EvalSetError, import_eval_bytes, import_eval_set, parse_eval_set
from .judge import (
    PAIR_TEMPLATE,
    SINGLE_TEMPLATE,
    JudgeReport,
    RelativeScore,
    TemplateError,
    judge_pairs,
    judge_single,
    parse_pair,
    parse_score,
    relative_scores,
    resolve_judge,
)
from .length import LengthScore, length_vs_score
from .pairs import reward_pairs, write_jsonl
from .ratings import GRADE_TEXT, grade_counts, next_unrated, rating_queue
from .review import (
    QUESTIONS,
    REVIEW_TEMPLATE,
    agreement,
    cohen_kappa,
    judge_review,
    next_unanswered,
    parse_review,
    review_sample,
    review_summary,
    yes_rates,
)
from .rouge import (
    PredictionFileError,
    RougeScore,
    import_prediction_records,
    import_prediction_sets,
    import_predictions,
    load_predictions,
    parse_predictions,
    score_file,
    score_sets,
)

__all__ = [
    "GRADE_TEXT", "PAIR_TEMPLATE", "QUESTIONS", "REVIEW_TEMPLATE", "SINGLE_TEMPLATE", "EvalSetError",
    "JudgeReport", "LengthScore", "PredictionFileError", "RelativeScore", "RougeScore", "TemplateError", "agreement",
    "cohen_kappa", "grade_counts", "import_eval_set", "import_predictions", "judge_pairs", "judge_review",
    "judge_single", "length_vs_score", "load_predictions", "import_eval_bytes", "import_prediction_records", "import_prediction_sets", "parse_predictions", "next_unanswered", "next_unrated", "parse_eval_set", "parse_pair",
    "parse_review", "parse_score", "rating_queue", "relative_scores", "resolve_judge", "review_sample",
    "review_summary",
    "reward_pairs", "score_file", "score_sets", "write_jsonl", "yes_rates",
]
