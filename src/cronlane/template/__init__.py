"""An application's ``template.yaml`` as the framework sees it: the parts generated from the
catalog (``regions``, ``generate``) and the checks ``cronlane validate`` makes on it (``checks``,
``iam``, ``functions``). Pure: nothing here talks to AWS."""
