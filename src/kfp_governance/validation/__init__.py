"""Building blocks of the ``validate_data`` executor, one job per module.

- :mod:`.arrow_batches`: stream Arrow record batches from Parquet or CSV and
  convert flat columns into the list columns TFDV expects;
- :mod:`.statistics`: TFDV statistics computed in-process, batch by batch;
- :mod:`.beam`: the same statistics on an Apache Beam runner;
- :mod:`.protos`: read and write statistics, schema and anomalies files;
- :mod:`.checks`: schema inference, drift/skew comparators and anomalies;
- :mod:`.report`: the self-contained HTML report.

Only :mod:`.statistics`, :mod:`.beam` and :mod:`.checks` import TFDV, and
only inside functions: its import takes tens of seconds.
"""
