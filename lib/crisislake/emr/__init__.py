"""EMR: build the shipped artefacts and submit the pipeline to a (transient) EMR cluster."""
