"""Management API for routing: deployments (with their health) and route policies, through the admin's services."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api_auth import ListPagination, ManagementAPIView
from core.api_errors import error_responses, path_text, query_text, validate_input
from routing.models import Deployment, RoutePolicy
from routing.selectors import deployment_get, deployment_list, policy_get, policy_list
from routing.serializers import (
    DeploymentCreateInput,
    DeploymentOutput,
    DeploymentUpdateInput,
    PolicyInput,
    PolicyOutput,
)
from routing.services import deployment_create, deployment_delete, deployment_update, policy_delete, policy_set

DEPLOYMENT_ID = OpenApiParameter("deployment_id", str, OpenApiParameter.PATH, description="The deployment's `id`.")
PUBLIC_NAME = OpenApiParameter("public_name", str, OpenApiParameter.PATH, description="The public model name.")


def _deployment(deployment_id: str) -> Deployment:
    deployment = deployment_get(deployment_id=path_text(deployment_id))
    if deployment is None:
        raise exceptions.NotFound()
    return deployment


def _policy(public_name: str) -> RoutePolicy:
    policy = policy_get(public_name=path_text(public_name))
    if policy is None:
        raise exceptions.NotFound()
    return policy


class DeploymentListCreate(ManagementAPIView):
    permission_model = Deployment

    pagination_class = ListPagination

    @extend_schema(
        tags=["routing"],
        parameters=[OpenApiParameter("public_name", str, description="Only this public name's deployments.")],
        responses={200: DeploymentOutput(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        """Deployments by public name, each with its health (cooldown, recent errors) as every instance sees it."""
        return self.paginated(deployment_list(public_name=query_text(request, "public_name")), DeploymentOutput)

    @extend_schema(
        tags=["routing"], request=DeploymentCreateInput, responses={201: DeploymentOutput, **error_responses(400)}
    )
    def post(self, request: Request) -> Response:
        """Puts a deployment behind a public name; its calls use the named provider's credentials (environment)."""
        deployment = deployment_create(**validate_input(DeploymentCreateInput, request.data), actor=self.actor)
        return Response(DeploymentOutput(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetail(ManagementAPIView):
    permission_model = Deployment

    @extend_schema(
        tags=["routing"], parameters=[DEPLOYMENT_ID], responses={200: DeploymentOutput, **error_responses(404)}
    )
    def get(self, request: Request, deployment_id: str) -> Response:
        """One deployment and its health."""
        return Response(DeploymentOutput(_deployment(deployment_id)).data)

    @extend_schema(
        tags=["routing"],
        parameters=[DEPLOYMENT_ID],
        request=DeploymentUpdateInput,
        responses={200: DeploymentOutput, **error_responses(400, 404)},
    )
    def patch(self, request: Request, deployment_id: str) -> Response:
        """Changes a deployment: its weight, capacity, enabled flag, model or credentials."""
        changes: dict[str, Any] = validate_input(DeploymentUpdateInput, request.data)
        deployment = deployment_update(deployment=_deployment(deployment_id), actor=self.actor, **changes)
        return Response(DeploymentOutput(deployment).data)

    @extend_schema(tags=["routing"], parameters=[DEPLOYMENT_ID], responses={204: None, **error_responses(404)})
    def delete(self, request: Request, deployment_id: str) -> Response:
        """Removes a deployment; a name left without any is auto-detected again."""
        deployment_delete(deployment=_deployment(deployment_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyListSet(ManagementAPIView):
    permission_model = RoutePolicy

    pagination_class = ListPagination

    @extend_schema(tags=["routing"], responses={200: PolicyOutput(many=True)})
    def get(self, request: Request) -> Response:
        """Route policies: attempts, total deadline and fallbacks per public name."""
        return self.paginated(policy_list(), PolicyOutput)

    @extend_schema(
        tags=["routing"],
        request=PolicyInput,
        responses={
            200: OpenApiResponse(PolicyOutput, description="The name's policy was updated."),
            201: OpenApiResponse(PolicyOutput, description="A policy was created."),
            **error_responses(400),
        },
    )
    def post(self, request: Request) -> Response:
        """Sets a public name's policy: 201 when created, 200 when updated."""
        policy, created = policy_set(**validate_input(PolicyInput, request.data), actor=self.actor)
        return Response(PolicyOutput(policy).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PolicyDetail(ManagementAPIView):
    permission_model = RoutePolicy

    @extend_schema(tags=["routing"], parameters=[PUBLIC_NAME], responses={200: PolicyOutput, **error_responses(404)})
    def get(self, request: Request, public_name: str) -> Response:
        """One public name's policy."""
        return Response(PolicyOutput(_policy(public_name)).data)

    @extend_schema(tags=["routing"], parameters=[PUBLIC_NAME], responses={204: None, **error_responses(404)})
    def delete(self, request: Request, public_name: str) -> Response:
        """Removes a policy: the name keeps its deployments with the default attempts and no fallbacks."""
        policy_delete(policy=_policy(public_name), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
