"""Recovery: redo dispatch per resource manager, the startup (replay) loop and checkpoints."""
