"""Policy models, the loader, the immutable `PolicySet` and its rule registry."""

from alluse.engine.policy.loader import PolicySet, load_policy_set
from alluse.engine.policy.models import POLICY_FILES, STRATEGY_DIR, StrategyPolicy
from alluse.engine.policy.rules import RuleInfo, rule_id

__all__ = ["POLICY_FILES", "STRATEGY_DIR", "PolicySet", "RuleInfo", "StrategyPolicy",
           "load_policy_set", "rule_id"]
