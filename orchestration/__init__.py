"""The Dagster code location that runs this Meltano project's jobs and schedules.

``orchestration.definitions.defs`` holds one Dagster job per Meltano job of
meltano.yml, one schedule per Meltano schedule, and a job that syncs groups of
campaigns in parallel. Each op runs ``meltano run`` in a subprocess.
"""
