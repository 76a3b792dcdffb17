import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { experimentStatesBefore, type ExperimentState } from '../domain/experiment.ts';
import { claimStart } from './experiment-state.ts';

describe('claimStart', () => {
  it('is a move the experiment table allows (the claim statement makes it inline)', () => {
    const unquote = (literal: string) => literal.replace(/^'|'$/g, '') as ExperimentState;
    assert.ok(experimentStatesBefore(unquote(claimStart.to)).includes(unquote(claimStart.from)));
  });
});
