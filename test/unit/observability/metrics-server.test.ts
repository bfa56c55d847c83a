import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { startMetricsServer } from '../../../src/observability/metrics-server.ts';
import { observabilitySettingsFromEnv } from '../../../src/observability/setup.ts';

describe('startMetricsServer', () => {
  describe('when scraped', () => {
    it('serves the registry at /metrics and 404 elsewhere', async () => {
      const metrics = createMetrics({ processMetrics: false, defaultLabels: { process: 'worker' } });
      metrics.slaEscalated({ kind: 'notify' });
      const server = await startMetricsServer({ metrics, port: 0, host: '127.0.0.1' });
      try {
        const res = await fetch(server.url);
        expect(res.status).toBe(200);
        expect(await res.text()).toContain('runbook_sla_escalations_total{kind="notify",process="worker"} 1');
        expect((await fetch(server.url.replace('/metrics', '/other'))).status).toBe(404);
      } finally {
        await server.close();
      }
    });
  });
});

describe('observabilitySettingsFromEnv', () => {
  describe('when values are bad', () => {
    it('names each one and never echoes the token', () => {
      const { problems, settings } = observabilitySettingsFromEnv({ METRICS_PORT: 'abc', OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318', AUDIT_TOKEN: 'tok-secret-value' });
      expect(problems.join('\n')).toMatch(/METRICS_PORT must be a whole number/);
      expect(problems.join('\n')).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL/);
      expect(problems.join('\n')).not.toContain('tok-secret-value');
      expect(settings.otlpEndpoint).toBeUndefined();
    });
  });

  describe('when nothing is set', () => {
    it('turns tracing, the worker metrics server and admin pages off', () => {
      expect(observabilitySettingsFromEnv({})).toEqual({ settings: {}, problems: [] });
    });
  });
});
