"""Extra links from Airflow tasks to the post and the publish run in Markaestro.

Operators push the URL to XCom the moment the id exists (before any wait or deferral), so the link
shows while a task is deferred, after it failed, and per map index of a mapped task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

POST_URL_XCOM_KEY = "markaestro_post_url"
JOB_RUN_URL_XCOM_KEY = "markaestro_job_run_url"


class _XComUrlLink(BaseOperatorLink):
    url_xcom_key: ClassVar[str]

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(ti_key=ti_key, key=self.url_xcom_key)
        return value if isinstance(value, str) else ""


class MarkaestroPostLink(_XComUrlLink):
    """The post in Markaestro."""

    name = "Markaestro post"
    url_xcom_key = POST_URL_XCOM_KEY


class MarkaestroJobRunLink(_XComUrlLink):
    """The publish job run in Markaestro."""

    name = "Markaestro publish run"
    url_xcom_key = JOB_RUN_URL_XCOM_KEY
