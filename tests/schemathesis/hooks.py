"""Checks of Wharf's own for schemathesis (loaded through SCHEMATHESIS_HOOKS by scripts/test).

`admins_only`: an operation whose description says it is for admins -- "(admins)" or
"(admins; ...)" -- never answers 2xx to the member and manager runs.
"""
import re

import schemathesis

ADMIN_ONLY = re.compile(r"\(admins[;)]")


@schemathesis.check
def admins_only(ctx, response, case):
    description = case.operation.definition.raw.get("description") or ""
    if ADMIN_ONLY.search(description) and 200 <= response.status_code < 300:
        raise AssertionError(
            f"{case.method} {case.path} is for admins, and answered {response.status_code} to a non-admin token"
        )
