"""A study's tables from input to analysis: the contract, validation (each column's checks a pandera
schema generated from the contract, `schemas`; keys and cross-table rules by hand, `validate`),
pseudonyms (`privacy`), cleaning, features, Table 1 (`descriptives`), and `chain`, which runs them
in order. Imports only `util`."""
