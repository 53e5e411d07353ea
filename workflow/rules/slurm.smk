# SLURM only: job status must be readable before the first job is submitted (issue 17).
# The SLURM plugin waits forever, silently, when it cannot read job states (sacct on a cluster
# without accounting); neurokine.workflow.slurm_preflight keeps, switches or refuses the status command.
# onstart, not parse time: only then is the executor known, and it runs only in the submitting
# process (SLURM jobs re-parse the Snakefile with --no-hooks). Other executors skip it at once.
onstart:
    if workflow.executor_plugin.name == "slurm" and workflow.is_main_process:
        from neurokine.workflow.slurm_preflight import preflight
        from snakemake.logging import logger

        settings = workflow.executor_settings
        decision = preflight(settings.status_command, settings.init_seconds_before_status_checks)
        settings.status_command = decision.status_command  # read by the plugin at every check
        (logger.warning if decision.changed else logger.info)(decision.message)
