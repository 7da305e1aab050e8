"""The simulated stand-in for the challenge file: a toy H -> tautau lepton-hadron simulation written in the official
35-column format. One file a job: constants (`config`), random variates, the physics (hard process, decays,
radiation), the detector, the mass fit, the CSV writer, and `simulate` (generation and writing; the command is
`modules/commands/data/simulate.py`)."""
