"""The plugin's API calls: the caller's kubeconfig, one client, plain dicts back.

Synchronous (a command does a few calls and exits), with the official client, loaded
as kubectl would: --kubeconfig, else KUBECONFIG, else ~/.kube/config (or the pod's
service account), the context's namespace unless -n says another.
"""

from __future__ import annotations

from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from crds.base import GROUP, VERSION

Object = dict[str, Any]


class PluginError(Exception):
    """What went wrong, in words for the person at the terminal."""


class Cluster:
    def __init__(self, kubeconfig: str | None, context: str | None,
                 namespace: str | None) -> None:
        try:
            client, active = _from_kubeconfig(kubeconfig, context)
        except (kubernetes.config.ConfigException, OSError) as error:
            if kubeconfig is not None or context is not None:
                raise PluginError(f"no usable kubeconfig: {error}") from None
            try:  # no kubeconfig at all: in a pod, its service account, as kubectl does
                kubernetes.config.load_incluster_config()
            except kubernetes.config.ConfigException:
                raise PluginError(f"no usable kubeconfig: {error}") from None
            client, active = kubernetes.client.ApiClient(), {"context": {
                "namespace": _pod_namespace()}}
        self.namespace = namespace or (active.get("context") or {}).get("namespace") or "default"
        self._clients(client)

    def _clients(self, client: kubernetes.client.ApiClient) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.core = kubernetes.client.CoreV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)

    def get(self, plural: str, name: str) -> Object | None:
        """A Herald object of the namespace, or None when there is none."""
        try:
            found: Any = _call(self.custom.get_namespaced_custom_object, GROUP, VERSION,
                               self.namespace, plural, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise PluginError(api_message(error)) from None
        return dict(found)

    def list_of(self, plural: str, label_selector: str = "") -> list[Object]:
        found: Any = self._checked(self.custom.list_namespaced_custom_object, GROUP, VERSION,
                                   self.namespace, plural, label_selector=label_selector)
        return list(found.get("items") or [])

    def patch_spec(self, plural: str, name: str, spec: Object) -> Object:
        """Merge-patch the object's spec; the object as it is after."""
        patched: Any = self._checked(self.custom.patch_namespaced_custom_object, GROUP,
                                     VERSION, self.namespace, plural, name, {"spec": spec})
        return dict(patched)

    def secret(self, name: str, why: str) -> Object:
        """A Secret of the namespace, read with the caller's own credentials: RBAC
        decides. `why` tells the caller what the Secret is for when it is refused."""
        try:
            found = _call(self.core.read_namespaced_secret, name, self.namespace)
        except ApiException as error:
            if error.status in (401, 403, 404):
                state = "not found" if error.status == 404 else "not readable by you"
                raise PluginError(f"secret {name} ({why}) is {state} in namespace"
                                  f" {self.namespace}") from None
            raise PluginError(api_message(error)) from None
        return dict(self.core.api_client.sanitize_for_serialization(found))

    def events_of(self, obj: Object) -> list[Object]:
        """The Events about one object (by its uid, as kubectl describe finds them)."""
        uid = obj["metadata"].get("uid")
        if not uid:
            return []
        found = self._checked(self.core.list_namespaced_event, self.namespace,
                              field_selector=f"involvedObject.uid={uid}")
        return [self.core.api_client.sanitize_for_serialization(e) for e in found.items]

    def jobs(self, label_selector: str) -> list[Object]:
        found = self._checked(self.batch.list_namespaced_job, self.namespace,
                              label_selector=label_selector)
        return [self.batch.api_client.sanitize_for_serialization(j) for j in found.items]

    def pods(self, label_selector: str) -> list[Object]:
        found = self._checked(self.core.list_namespaced_pod, self.namespace,
                              label_selector=label_selector)
        return [self.core.api_client.sanitize_for_serialization(p) for p in found.items]

    def _checked(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return _call(method, *args, **kwargs)
        except ApiException as error:
            raise PluginError(api_message(error)) from None


def _from_kubeconfig(kubeconfig: str | None, context: str | None
                     ) -> tuple[kubernetes.client.ApiClient, dict[str, Any]]:
    """The client of the kubeconfig's context (`context`, else its current one), and
    that context's entry."""
    contexts, current = kubernetes.config.list_kube_config_contexts(
        config_file=kubeconfig)
    if context is not None:
        current = next((c for c in contexts if c["name"] == context), None)
        if current is None:
            raise kubernetes.config.ConfigException(f"context {context!r} not found")
    client = kubernetes.config.new_client_from_config(
        config_file=kubeconfig, context=context)
    return client, dict(current)


def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return method(*args, **kwargs)
    except (OSError, kubernetes.client.exceptions.ApiException):
        raise
    except Exception as error:  # urllib3's connection errors, wrapped by the client
        if "Connection" in type(error).__name__ or "MaxRetry" in type(error).__name__:
            raise PluginError(f"the API server does not answer: {error}") from None
        raise


def api_message(error: ApiException) -> str:
    """The Status message the API server sent (kubectl prints the same), or its code."""
    import json

    try:
        body = json.loads(error.body or "{}")
    except ValueError:
        body = {}
    return str(body.get("message") or f"the API server answered {error.status} {error.reason}")


def _pod_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as file:
            return file.read().strip() or "default"
    except OSError:
        return "default"
