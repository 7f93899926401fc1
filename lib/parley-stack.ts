/**
 * The one stack of Parley, `Parley-{stage}`. For now the data layer only; the functions,
 * the WebSocket API and monitoring come as their own constructs beside `ParleyData`, and
 * take the table and stream names from `data.environment`.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ParleyData, pascalCase } from './constructs/data.js';
import { isProduction, parseStage } from './stage.js';
import { eventsStream, TABLES } from './tables.js';

export interface ParleyStackProps extends StackProps {
  /** `dev`, `prod`, …: see `lib/stage.ts`. Only `prod` retains its data. */
  stage: string;
}

export class ParleyStack extends Stack {
  readonly stage: string;
  readonly data: ParleyData;

  constructor(scope: Construct, id: string, props: ParleyStackProps) {
    super(scope, id, props);
    this.stage = parseStage(props.stage);

    /* -------------------------------------------------------------------------- */
    /*                                    DATA                                    */
    /* -------------------------------------------------------------------------- */
    this.data = new ParleyData(this, 'Data', { retainData: isProduction(this.stage) });

    /* -------------------------------------------------------------------------- */
    /*                                  OUTPUTS                                   */
    /* -------------------------------------------------------------------------- */
    for (const definition of TABLES) {
      new CfnOutput(this, `${pascalCase(definition.id)}TableName`, {
        description: `Physical name of the ${definition.id} table`,
        value: this.data.tables[definition.id].tableName,
      });
    }
    new CfnOutput(this, `${pascalCase(eventsStream.id)}StreamName`, {
      description: `Physical name of the ${eventsStream.id} stream`,
      value: this.data.stream.streamName,
    });
  }
}
