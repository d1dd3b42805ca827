"""The simulation: the real pipeline on a virtual clock (`virtual_run`), `simulate`'s run and outputs, its report."""
