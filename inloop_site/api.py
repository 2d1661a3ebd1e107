"""The /api/v1 root (marketplace.api) with every app's router mounted."""

from __future__ import annotations

from billing.api import router as billing_router
from datasets.api import router as datasets_router
from evidence.api import router as evidence_router
from experts.api import router as experts_router
from marketplace.api import api
from oversight.api import router as oversight_router
from review_requests.agreement_api import router as agreement_router
from review_requests.api import router as review_requests_router
from review_requests.golden_api import router as golden_router
from review_requests.oversight_api import router as oversight_figures_router

api.add_router("", experts_router)
api.add_router("", review_requests_router)
api.add_router("", billing_router)
api.add_router("", evidence_router)
api.add_router("", oversight_router)
# The figures and the simulator of a policy (/oversight-policies/{name}/stats, /simulate): they
# read review requests, which oversight does not import.
api.add_router("", oversight_figures_router)
api.add_router("", datasets_router)
api.add_router("", agreement_router)
api.add_router("", golden_router)

__all__ = ["api"]
