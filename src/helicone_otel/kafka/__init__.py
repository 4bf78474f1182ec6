"""Everything about putting records on Kafka, shared by the collector, the exporter's Kafka mode and
the forwarder: client construction (`cluster`), one output's settings (`output`), a request turned into
the records of the contract (`records`, `truncation`) and producing them with the error split
(`sender`). It needs the `kafka` extra (aiokafka)."""
