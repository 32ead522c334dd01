"""Model registration API for managers: ``POST /api/checkpoints/`` brings a base model (a folder under
``MODELS_ROOT`` or a hub id from the local Hugging Face cache, full weights or a PEFT adapter on ``base``);
``GET /api/checkpoints/<id>/`` follows it (``status``: validating, ready or failed with ``error``) and carries
its facts (architecture, parameters, dtype, prefix_sharing). What it checks: ``training.registration_services``.
"""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotate.apis.base import ManagerApi
from config.fields import IdField
from training import registration_services, selectors
from training.apis import CheckpointListApi, CheckpointOutputSerializer


class CheckpointRegisterInputSerializer(serializers.Serializer):
    project = IdField()
    path = serializers.CharField(required=False, allow_blank=True, max_length=1000, help_text=(
        "A model folder inside MODELS_ROOT (relative to it, or absolute): save_pretrained weights with their "
        "processor, or a PEFT adapter."))
    hub_id = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text=(
        "owner/name of a model in the local Hugging Face cache (fetched only if MODEL_HUB_DOWNLOADS is on)."))
    base = serializers.CharField(required=False, allow_blank=True, max_length=1000, help_text=(
        "For a PEFT adapter: its base model, a folder inside MODELS_ROOT or a hub id; default: the one its "
        "adapter_config.json names."))
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class CheckpointListRegisterApi(CheckpointListApi):
    @extend_schema(request=CheckpointRegisterInputSerializer, responses={202: CheckpointOutputSerializer})
    def post(self, request):
        data = CheckpointRegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        checkpoint = registration_services.checkpoint_registration_create(
            project=self.manager_project(values["project"]), path=values.get("path"), hub_id=values.get("hub_id"),
            base=values.get("base"), name=values.get("name", ""), created_by=request.user)
        return Response(CheckpointOutputSerializer(checkpoint).data, status=status.HTTP_202_ACCEPTED)


class CheckpointDetailApi(ManagerApi):
    @extend_schema(responses=CheckpointOutputSerializer)
    def get(self, request, checkpoint_id):
        checkpoint = get_object_or_404(selectors.checkpoint_list(user=request.user), pk=checkpoint_id)
        return Response(CheckpointOutputSerializer(checkpoint).data)
