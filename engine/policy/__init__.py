"""Policy models, the loader and the immutable `PolicySet`."""

from alluse.engine.policy.loader import PolicySet, load_policy_set
from alluse.engine.policy.models import POLICY_FILES, STRATEGY_DIR, StrategyPolicy

__all__ = ["POLICY_FILES", "STRATEGY_DIR", "PolicySet", "StrategyPolicy", "load_policy_set"]
