from django.urls import path

from training import apis, playground_apis, registration_apis, verdict_apis

urlpatterns = [
    path("training-runs/", apis.TrainingRunListCreateApi.as_view(), name="training-run-list"),
    path("training-runs/<id:run_id>/", apis.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("training-runs/<id:run_id>/cancel/", apis.TrainingRunCancelApi.as_view(), name="training-run-cancel"),
    path("checkpoints/", registration_apis.CheckpointListRegisterApi.as_view(), name="checkpoint-list"),
    path("checkpoints/<id:checkpoint_id>/", registration_apis.CheckpointDetailApi.as_view(), name="checkpoint-detail"),
    path("checkpoints/<id:checkpoint_id>/activate/", apis.CheckpointActivateApi.as_view(), name="checkpoint-activate"),
    path("checkpoints/<id:checkpoint_id>/promote/", apis.CheckpointPromoteApi.as_view(), name="checkpoint-promote"),
    path("checkpoints/<id:checkpoint_id>/keep/", apis.CheckpointKeepApi.as_view(), name="checkpoint-keep"),
    path("projects/<id:project_id>/", apis.ProjectSettingsApi.as_view(), name="project-settings"),
    path("projects/<id:project_id>/loop/", apis.ProjectLoopApi.as_view(), name="project-loop"),
    path("checkpoints/<id:checkpoint_id>/verdict/", verdict_apis.CheckpointVerdictApi.as_view(),
         name="checkpoint-verdict"),
    path("projects/<id:project_id>/verdicts/", verdict_apis.ProjectVerdictsApi.as_view(), name="project-verdicts"),
    path("projects/<id:project_id>/analytics/verdicts.csv", verdict_apis.ProjectVerdictsCsvApi.as_view(),
         name="project-analytics-verdicts-csv"),
    path("checkpoints/<id:checkpoint_id>/evaluate/", apis.CheckpointEvaluateApi.as_view(), name="checkpoint-evaluate"),
    path("checkpoints/<id:checkpoint_id>/evaluations/", apis.CheckpointEvaluationListApi.as_view(),
         name="checkpoint-evaluation-list"),
    path("generation-batches/", apis.GenerationBatchListCreateApi.as_view(), name="generation-batch-list"),
    path("generation-batches/<id:batch_id>/cancel/", apis.GenerationBatchCancelApi.as_view(),
         name="generation-batch-cancel"),
    path("playground/", playground_apis.PlaygroundCreateApi.as_view(), name="playground-create"),
    path("playground/<id:request_id>/", playground_apis.PlaygroundDetailApi.as_view(), name="playground-detail"),
    path("playground/<id:request_id>/send/", playground_apis.PlaygroundSendApi.as_view(), name="playground-send"),
]
