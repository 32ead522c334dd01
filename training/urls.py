from django.urls import path

from training import apis, playground_apis

urlpatterns = [
    path("training-runs/", apis.TrainingRunListCreateApi.as_view(), name="training-run-list"),
    path("training-runs/<id:run_id>/", apis.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("training-runs/<id:run_id>/cancel/", apis.TrainingRunCancelApi.as_view(), name="training-run-cancel"),
    path("checkpoints/", apis.CheckpointListApi.as_view(), name="checkpoint-list"),
    path("checkpoints/<id:checkpoint_id>/activate/", apis.CheckpointActivateApi.as_view(), name="checkpoint-activate"),
    path("generation-batches/", apis.GenerationBatchListCreateApi.as_view(), name="generation-batch-list"),
    path("generation-batches/<id:batch_id>/cancel/", apis.GenerationBatchCancelApi.as_view(),
         name="generation-batch-cancel"),
    path("playground/", playground_apis.PlaygroundCreateApi.as_view(), name="playground-create"),
    path("playground/<id:request_id>/", playground_apis.PlaygroundDetailApi.as_view(), name="playground-detail"),
    path("playground/<id:request_id>/send/", playground_apis.PlaygroundSendApi.as_view(), name="playground-send"),
]
